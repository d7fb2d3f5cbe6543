/**
 * Presence of contacts (docs/protocol.md, Presence): a client watches the
 * online state and last-seen time of users it may see (its friends who do
 * not block it) and gets a `presence` event at each change. The server
 * forgets a connection's subscriptions when it ends; the client remembers
 * them and subscribes again after every reconnect, reporting the watched
 * users' state as `presence` events.
 *
 * @module
 */
import type { PresencePage as WirePresencePage, UserPresence as WireUserPresence } from "./gen/magpie/v1/magpie_pb.js";

/** One user's presence. */
export interface Presence {
  /** The user. */
  userId: string;
  /**
   * True while the user has a session on any device. Offline means it has
   * had none for the server's debounce (5 s by default).
   */
  online: boolean;
  /** When the user went offline; undefined while it is online, or if it never was. */
  lastSeen?: Date;
  /**
   * When the change happened (or when the server read the state). The same
   * state may come twice: keep the one with the latest `at`.
   */
  at: Date;
}

/** The answer to a subscription: the watched users' state and the refused ids. */
export interface PresenceSubscription {
  /** The present state of each user the request watches, by user id. */
  users: Presence[];
  /** The requested user ids that are not watched (not a friend, unknown, or over the bound), by user id. */
  refused: string[];
}

/** Converts a wire UserPresence. */
export function toPresence(p: WireUserPresence): Presence {
  const out: Presence = { userId: p.userId, online: p.online, at: new Date(Number(p.atMs)) };
  if (p.lastSeenMs !== 0n) out.lastSeen = new Date(Number(p.lastSeenMs));
  return out;
}

/** Converts a wire PresencePage. */
export function toPresenceSubscription(p: WirePresencePage): PresenceSubscription {
  return { users: p.users.map(toPresence), refused: [...p.refused] };
}

/** What the client watches, to watch it again on every new session. */
export class PresenceSubs {
  private readonly users = new Set<string>();
  private friendsToo = false;

  /** Records a subscription's watched users (and whether it asked for friends). */
  added(page: PresenceSubscription, friends: boolean): void {
    for (const p of page.users) this.users.add(p.userId);
    this.friendsToo ||= friends;
  }

  /** Forgets users, or everything with all. */
  removed(userIds: readonly string[], all: boolean): void {
    if (all) {
      this.users.clear();
      this.friendsToo = false;
    }
    for (const u of userIds) this.users.delete(u);
  }

  /** The subscription to send again, or undefined if there is nothing to watch. */
  again(): { userIds: string[]; friends: boolean } | undefined {
    if (this.users.size === 0 && !this.friendsToo) return undefined;
    return { userIds: [...this.users].sort(), friends: this.friendsToo };
  }
}
