/**
 * Contacts (docs/contacts.md): friend requests, friends with remarks and
 * the blocklist of the logged-in user, and the notices other users'
 * actions post to the user.
 *
 * @module
 */
import type {
  Blocked as WireBlocked,
  Friend as WireFriend,
  FriendRequest as WireFriendRequest,
} from "./gen/magpie/v1/magpie_pb.js";
import type { Message } from "./events.js";

/** Outcomes of {@link MagpieClient.sendFriendRequest}. */
export const FriendStatus = {
  /** The request waits for the other user's answer. */
  Requested: "requested",
  /** The two users are friends: the other user had asked already, or they were friends before. */
  Friends: "friends",
} as const;

/** An outcome of a friend request: `"requested"` or `"friends"` (see the {@link FriendStatus} constants). */
export type FriendStatus = (typeof FriendStatus)[keyof typeof FriendStatus];

/** A pending friend request. */
export interface FriendRequest {
  /** The user who asked. */
  fromId: string;
  /** The user asked. */
  toId: string;
  /** The asker's words. */
  message: string;
  /** When it was asked. */
  createdAt: Date;
}

/** One of the user's friends. */
export interface Friend {
  /** The friend. */
  userId: string;
  /** The user's own name for the friend; no one else sees it. */
  remark: string;
  /** When they became friends. */
  createdAt: Date;
}

/** A user the user blocks. */
export interface BlockedUser {
  /** The blocked user. */
  userId: string;
  /** When the block began. */
  createdAt: Date;
}

/** A page of friend requests. */
export interface FriendRequestPage {
  /** The requests, by the other user's id. */
  requests: FriendRequest[];
  /** The cursor of the next page; empty on the last. */
  nextCursor: string;
}

/** A page of friends. */
export interface FriendPage {
  /** The friends, by user id. */
  friends: Friend[];
  /** The cursor of the next page; empty on the last. */
  nextCursor: string;
}

/** A page of blocked users. */
export interface BlockedPage {
  /** The blocked users, by user id. */
  users: BlockedUser[];
  /** The cursor of the next page; empty on the last. */
  nextCursor: string;
}

/** What a {@link ContactNotice} reports. */
export type ContactEventKind = "friend.requested" | "friend.accepted" | "friend.removed";

/**
 * Another user acted on the user's contacts: asked to be friends, accepted
 * the user's request (or befriended it by a crossing request), or ended the
 * friendship. The server posts these as `notice` messages in the user's
 * system conversation (`s:<user id>`); the client reports each such message
 * as a `message` event and then as this event, once, live or at the next
 * sync. Declines, cancellations and blocks are not told.
 */
export interface ContactNotice {
  /** What happened. */
  event: ContactEventKind;
  /** The user who did it. */
  userId: string;
  /** The request's words, for `friend.requested`; empty otherwise. */
  message: string;
  /** The system conversation the notice is in. */
  convId: string;
  /** The notice's seq there. */
  seq: number;
  /** When the server posted it. */
  at: Date;
}

/** Returns the id of a user's system conversation: `"s:"` and the user id. */
export function systemConvId(userId: string): string {
  return "s:" + userId;
}

/** @internal Returns the contact notice a message of the user's system conversation carries, if it is one. */
export function contactNoticeOf(m: Message, me: string): ContactNotice | undefined {
  if (m.type !== "notice" || m.convId !== systemConvId(me)) return undefined;
  let v: { event?: unknown; user_id?: unknown; message?: unknown };
  try {
    v = JSON.parse(m.content) as typeof v;
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== "object") return undefined;
  switch (v.event) {
    case "friend.requested":
    case "friend.accepted":
    case "friend.removed":
      break;
    default:
      return undefined;
  }
  return {
    event: v.event,
    userId: typeof v.user_id === "string" ? v.user_id : "",
    message: typeof v.message === "string" ? v.message : "",
    convId: m.convId,
    seq: m.seq,
    at: m.createdAt,
  };
}

/** @internal Converts a wire friend request. */
export function toFriendRequest(r: WireFriendRequest): FriendRequest {
  return { fromId: r.fromId, toId: r.toId, message: r.message, createdAt: new Date(Number(r.createdAtMs)) };
}

/** @internal Converts a wire friend. */
export function toFriend(f: WireFriend | undefined): Friend {
  if (!f) throw new Error("magpie: reply without a friend");
  return { userId: f.userId, remark: f.remark, createdAt: new Date(Number(f.createdAtMs)) };
}

/** @internal Converts a wire blocked user. */
export function toBlockedUser(b: WireBlocked): BlockedUser {
  return { userId: b.userId, createdAt: new Date(Number(b.createdAtMs)) };
}
