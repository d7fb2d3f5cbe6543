/**
 * Conversations: their states as the server keeps them for the user, and
 * the user's own settings of them (pin, draft, cleared history).
 *
 * @module
 */
import type { ConversationState } from "./gen/magpie/v1/magpie_pb.js";
import type { Message } from "./events.js";
import { toMessage } from "./receiver.js";

/** The state of one of the user's conversations. */
export interface Conversation {
  /** The conversation id. */
  id: string;
  /** The members, sorted. Empty for a group's conversation: {@link MagpieClient.groupMembers} lists them. */
  members: string[];
  /** The highest seq. */
  maxSeq: number;
  /** The first seq this user can see. */
  firstSeq: number;
  /** The user's read cursor. */
  readSeq: number;
  /** This device's delivery cursor as the server recorded it. */
  deliveredSeq: number;
  /** One-to-one: the peer's read cursor. */
  peerReadSeq: number;
  /** One-to-one: the peer's delivery cursor (highest of its devices). */
  peerDeliveredSeq: number;
  /** Messages after readSeq not sent by the user. */
  unread: number;
  /** The last new message or recall. */
  updatedAt: Date;
  /** The message at `maxSeq`, for a preview; undefined if unknown. */
  lastMessage?: Message;
  /** The user muted the conversation. */
  muted: boolean;
  /** The group of a group's conversation; empty for other conversations. */
  groupId: string;
  /** The newest message that mentioned the user (by id or by mentioning everyone); 0 if none. */
  mentionSeq: number;
  /** Whether a message the user has not read mentions it: `mentionSeq > readSeq`. */
  hasUnreadMention: boolean;
  /** When the user pinned the conversation; undefined if it is not pinned. Sort pinned conversations first. */
  pinnedAt?: Date;
  /** The user's unsent text, kept for all its devices; empty if none. */
  draft: string;
  /** The seq up to which the user cleared the history, on all its devices; 0 if never. */
  clearedSeq: number;
}

/**
 * Changes to the user's own settings of a conversation, for
 * {@link MagpieClient.setConversation}; fields left out stay.
 */
export interface ConversationPrefs {
  /** Pin (true) or unpin (false) the conversation. */
  pinned?: boolean;
  /** The unsent text to keep (at most 4096 bytes); `""` drops it. */
  draft?: string;
  /**
   * Clear the history for the user (not for the other members): every
   * message sent so far is gone for it, on all its devices, and read.
   */
  clearHistory?: boolean;
}

/** Returns the id of the one-to-one conversation of two users: `"p:"` and their ids, sorted, joined by `":"`. */
export function directConvId(userA: string, userB: string): string {
  return userA <= userB ? `p:${userA}:${userB}` : `p:${userB}:${userA}`;
}

/** @internal Converts a wire conversation state for the user me. */
export function toConversation(st: ConversationState, me: string): Conversation {
  const members = [...st.members];
  const cv: Conversation = {
    id: st.convId,
    members,
    maxSeq: Number(st.maxSeq),
    firstSeq: Number(st.firstSeq) || 1,
    readSeq: Number(st.readSeq),
    deliveredSeq: Number(st.deliveredSeq),
    peerReadSeq: Number(st.peerReadSeq),
    peerDeliveredSeq: Number(st.peerDeliveredSeq),
    unread: Number(st.unread),
    updatedAt: new Date(Number(st.updatedAtMs)),
    muted: st.muted,
    groupId: st.groupId,
    mentionSeq: Number(st.mentionSeq),
    hasUnreadMention: st.mentionSeq > st.readSeq,
    draft: st.draft,
    clearedSeq: Number(st.clearedSeq),
  };
  if (st.pinnedAtMs !== 0n) cv.pinnedAt = new Date(Number(st.pinnedAtMs));
  if (st.lastMessage) cv.lastMessage = { ...toMessage(st.lastMessage, me), members };
  return cv;
}
