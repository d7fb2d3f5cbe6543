/**
 * Group chats: the types of the group API of {@link MagpieClient}.
 *
 * @module
 */
import type {
  Group as WireGroup,
  GroupMember as WireGroupMember,
  GroupMembersResult as WireGroupMembersResult,
  JoinRequest as WireJoinRequest,
} from "./gen/magpie/v1/magpie_pb.js";
import { groupConvId } from "./events.js";

/** Join policies of a group: who may add members. */
export const JoinPolicy = {
  /** Anyone in the app joins by itself; members invite. */
  Open: "open",
  /** An admin approves joins and members' invitations. */
  Approval: "approval",
  /** Only the owner and admins add members (the default). */
  Invite: "invite",
} as const;

/** A join policy: `"open"`, `"approval"` or `"invite"` (see the {@link JoinPolicy} constants). */
export type JoinPolicy = (typeof JoinPolicy)[keyof typeof JoinPolicy];

/** Roles of a group's members. */
export const GroupRole = {
  /** The member who owns the group: one per group. */
  Owner: "owner",
  /** Manages members and settings. */
  Admin: "admin",
  /** A plain member. */
  Member: "member",
} as const;

/** A member's role: `"owner"`, `"admin"` or `"member"` (see the {@link GroupRole} constants). */
export type GroupRole = (typeof GroupRole)[keyof typeof GroupRole];

/** A group chat's profile and settings. */
export interface Group {
  /** The group id. */
  id: string;
  /** The id of the group's conversation: {@link groupConvId}(id). */
  convId: string;
  /** The display name. */
  name: string;
  /** An http or https URL of the group's picture; empty if none. */
  avatarUrl: string;
  /** The group's announcement. */
  notice: string;
  /** App-defined key-value data. */
  metadata: Record<string, string>;
  /** The member who owns the group. */
  ownerId: string;
  /** Who may add members. */
  joinPolicy: JoinPolicy;
  /** Only the owner and admins may send. */
  muteAll: boolean;
  /** New members read the messages sent before they joined. */
  historyVisible: boolean;
  /** The number of members. */
  memberCount: number;
  /** When the group was created. */
  createdAt: Date;
  /** When the group last changed. */
  updatedAt: Date;
}

/** A group to create with {@link MagpieClient.createGroup}; the user owns it. */
export interface NewGroup {
  /**
   * The group id: 1-64 letters, digits, `_`, `.`, `@` or `-`. Default: one
   * the client picks (`grp_` and 20 random hex digits).
   */
  id?: string;
  /** The display name (at most 128 bytes). */
  name: string;
  /** An http or https URL of the group's picture. */
  avatarUrl?: string;
  /** The group's announcement (at most 4096 bytes). */
  notice?: string;
  /** App-defined key-value data (at most 4096 bytes as JSON). */
  metadata?: Record<string, string>;
  /** Who may add members. Default {@link JoinPolicy.Invite}. */
  joinPolicy?: JoinPolicy;
  /** New members read the messages sent before they joined. Default false. */
  historyVisible?: boolean;
  /** The first members besides the user. */
  memberIds?: string[];
}

/** Changes to a group's profile and settings; fields left out stay as they are. */
export interface GroupUpdate {
  /** The display name. */
  name?: string;
  /** The URL of the group's picture. */
  avatarUrl?: string;
  /** The group's announcement. */
  notice?: string;
  /** Replaces the metadata; an empty object clears it. */
  metadata?: Record<string, string>;
  /** Who may add members. */
  joinPolicy?: JoinPolicy;
  /** New members read the messages sent before they joined. */
  historyVisible?: boolean;
  /** Only the owner and admins may send. */
  muteAll?: boolean;
}

/** One member of a group. */
export interface GroupMember {
  /** The user. */
  userId: string;
  /** The member's role. */
  role: GroupRole;
  /** Until when the member may not send; undefined unless muted. */
  mutedUntil?: Date;
  /** When the member joined. */
  joinedAt: Date;
}

/** What a membership call did. */
export interface MembersResult {
  /** The users who became members. */
  added: string[];
  /** The users whose join request or invitation waits for an admin's approval. */
  pending: string[];
  /** The users who were removed. */
  removed: string[];
}

/** A request to join a group, or a member's invitation, waiting for an admin. */
export interface JoinRequest {
  /** The user who would join. */
  userId: string;
  /** The member who invited the user; empty when the user asked itself. */
  inviterId: string;
  /** The requester's words to the admins. */
  message: string;
  /** When the request was made. */
  createdAt: Date;
}

/** How many members read a group message. */
export interface GroupReads {
  /** The message's seq. */
  seq: number;
  /** The members whose read cursor is at or past seq. */
  read: number;
  /** The members who could read it (they joined before it was sent). */
  of: number;
}

/** A page of a group's members. */
export interface GroupMemberPage {
  /** The members, by user id. */
  members: GroupMember[];
  /** The cursor of the next page; empty on the last. */
  nextCursor: string;
}

/** A page of a group's join requests. */
export interface JoinRequestPage {
  /** The requests, by user id. */
  requests: JoinRequest[];
  /** The cursor of the next page; empty on the last. */
  nextCursor: string;
}

/** @internal Converts a wire group. */
export function toGroup(g: WireGroup | undefined): Group {
  if (!g) throw new Error("magpie: reply without a group");
  return {
    id: g.id,
    convId: groupConvId(g.id),
    name: g.name,
    avatarUrl: g.avatarUrl,
    notice: g.notice,
    metadata: { ...g.metadata },
    ownerId: g.ownerId,
    joinPolicy: g.joinPolicy as JoinPolicy,
    muteAll: g.muteAll,
    historyVisible: g.historyVisible,
    memberCount: g.memberCount,
    createdAt: new Date(Number(g.createdAtMs)),
    updatedAt: new Date(Number(g.updatedAtMs)),
  };
}

/** @internal Converts a wire group member. */
export function toGroupMember(m: WireGroupMember): GroupMember {
  const out: GroupMember = { userId: m.userId, role: m.role as GroupRole, joinedAt: new Date(Number(m.joinedAtMs)) };
  if (m.mutedUntilMs !== 0n) out.mutedUntil = new Date(Number(m.mutedUntilMs));
  return out;
}

/** @internal Converts a wire membership result. */
export function toMembersResult(r: WireGroupMembersResult): MembersResult {
  return { added: [...r.added], pending: [...r.pending], removed: [...r.removed] };
}

/** @internal Converts a wire join request. */
export function toJoinRequest(r: WireJoinRequest): JoinRequest {
  return { userId: r.userId, inviterId: r.inviterId, message: r.message, createdAt: new Date(Number(r.createdAtMs)) };
}
