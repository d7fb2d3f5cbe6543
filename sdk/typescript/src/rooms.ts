/**
 * Chat rooms (docs/rooms.md): live audiences, such as the viewers of a live
 * stream. A connection joins a room and gets its messages while it is in
 * it, at most once, with nothing stored for it while it is away. The client
 * remembers the rooms it joined and joins them again after every reconnect,
 * reporting the messages it missed that are still in the room's recent
 * history as `roomMessage` events; older ones are lost to it.
 *
 * @module
 */
import type {
  RoomInfo as WireRoomInfo,
  RoomMessage as WireRoomMessage,
  RoomSendAck as WireRoomSendAck,
} from "./gen/magpie/v1/magpie_pb.js";

/** A room. */
export interface RoomInfo {
  /** The room id. */
  id: string;
  /** Its display name. */
  name: string;
  /** The user who owns it; its messages keep priority when the room sheds load. */
  ownerId: string;
  /** The connections in the room, on every gateway. */
  memberCount: number;
}

/**
 * A message of a room the client joined. The client reports each seq of a
 * room at most once, and never one older than a seq it reported before: a
 * gap in seqs is a message the client missed.
 */
export interface RoomMessage {
  /** The room. */
  roomId: string;
  /** The message's seq in the room, from 1. */
  seq: number;
  /** The sender; empty for a system message of the app's backend. */
  senderId: string;
  /** The id the sender gave the message. */
  clientMsgId: string;
  /** The kind of content. */
  type: string;
  /** The content. */
  content: string;
  /** When the room accepted it. */
  createdAt: Date;
  /** Set for messages of the room's owner and of the app's backend. */
  priority: boolean;
}

/** A joined room's member count; the server sends it about once a second while the count changes. */
export interface RoomMemberCount {
  /** The room. */
  roomId: string;
  /** The connections in the room. */
  count: number;
}

/** Reasons of a {@link RoomLeft}. */
export const RoomLeftReason = {
  /** The room was destroyed. */
  Closed: "closed",
  /** The app's backend kicked the user; it may join again. */
  Kicked: "kicked",
  /** The app's backend banned the user: joining fails with `room_banned` until the ban is lifted. */
  Banned: "banned",
} as const;

/** Why the client left a room: `"closed"`, `"kicked"` or `"banned"` (see the {@link RoomLeftReason} constants). */
export type RoomLeftReason = (typeof RoomLeftReason)[keyof typeof RoomLeftReason];

/** The client is no longer in a room, and does not join it again by itself. */
export interface RoomLeft {
  /** The room. */
  roomId: string;
  /** Why. */
  reason: RoomLeftReason;
}

/** What {@link MagpieClient.joinRoom} returns. */
export interface RoomJoin {
  /** The room, its member count including this connection. */
  room: RoomInfo;
  /** The room's recent messages, oldest first. */
  messages: RoomMessage[];
}

/** An accepted room message. */
export interface RoomAck {
  /** The room. */
  roomId: string;
  /** The message's client message id. */
  clientMsgId: string;
  /** Its seq in the room. */
  seq: number;
  /** When the room accepted it. */
  createdAt: Date;
  /** Set if this is the acknowledgement of an earlier send with the same client message id. */
  duplicate: boolean;
}

/** @internal Converts a wire room message. */
export function toRoomMessage(m: WireRoomMessage): RoomMessage {
  return {
    roomId: m.roomId,
    seq: Number(m.seq),
    senderId: m.senderId,
    clientMsgId: m.clientMsgId,
    type: m.type,
    content: m.content,
    createdAt: new Date(Number(m.createdAtMs)),
    priority: m.priority,
  };
}

/** @internal Converts a wire room. */
export function toRoomInfo(r: WireRoomInfo | undefined): RoomInfo {
  return { id: r?.id ?? "", name: r?.name ?? "", ownerId: r?.ownerId ?? "", memberCount: Number(r?.memberCount ?? 0n) };
}

/** @internal Converts a wire room send acknowledgement. */
export function toRoomAck(a: WireRoomSendAck): RoomAck {
  return {
    roomId: a.roomId,
    clientMsgId: a.clientMsgId,
    seq: Number(a.seq),
    createdAt: new Date(Number(a.serverTimeMs)),
    duplicate: a.duplicate,
  };
}

/**
 * @internal The client's rooms: those joined, and the highest seq seen of
 * each, so that no room message is reported twice.
 */
export class Rooms {
  private readonly joined = new Map<string, number>();

  /** The joined rooms' ids. */
  ids(): string[] {
    return [...this.joined.keys()];
  }

  /** Notes a room being joined, keeping what was seen of it. */
  join(roomId: string): void {
    if (!this.joined.has(roomId)) this.joined.set(roomId, 0);
  }

  /** Forgets a room. */
  forget(roomId: string): void {
    this.joined.delete(roomId);
  }

  /** Whether the room is joined. */
  has(roomId: string): boolean {
    return this.joined.has(roomId);
  }

  /** Records messages of joined rooms and returns those newer than any seen; other rooms' are dropped. */
  fresh(msgs: RoomMessage[]): RoomMessage[] {
    const out: RoomMessage[] = [];
    for (const m of msgs) {
      const last = this.joined.get(m.roomId);
      if (last === undefined || m.seq <= last) continue;
      this.joined.set(m.roomId, m.seq);
      out.push(m);
    }
    return out;
  }

  /** Records a joined room's history as seen, without reporting it. */
  saw(roomId: string, history: RoomMessage[]): void {
    const last = this.joined.get(roomId);
    const top = history.length > 0 ? history[history.length - 1].seq : 0;
    if (last !== undefined) this.joined.set(roomId, Math.max(last, top));
  }

  /**
   * Notices a room whose seqs started again (the server lost its live
   * state, as an embedded server does when it restarts): the last message
   * of the history, which is the room's last, is older than one seen. The
   * room's seqs are then taken afresh.
   */
  restarted(roomId: string, history: RoomMessage[]): void {
    const top = history.length > 0 ? history[history.length - 1].seq : 0;
    const last = this.joined.get(roomId);
    if (last !== undefined && top < last) this.joined.set(roomId, 0);
  }
}
