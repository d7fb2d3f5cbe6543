/**
 * Customer service (docs/support.md): the user, as a visitor, asks for an
 * agent; the agent's messages then come as one-to-one messages.
 *
 * @module
 */
import type { SupportSession as WireSupportSession } from "./gen/magpie/v1/magpie_pb.js";

/** States of a {@link SupportSession}. */
export const SupportState = {
  /** In its skill's queue, waiting for an agent. */
  Waiting: "waiting",
  /** With an agent. */
  Active: "active",
  /** Over. */
  Closed: "closed",
} as const;

/** A support session's state: `"waiting"`, `"active"` or `"closed"` (see the {@link SupportState} constants). */
export type SupportState = (typeof SupportState)[keyof typeof SupportState];

/** A customer-service session. */
export interface SupportSession {
  /** The session id. */
  id: string;
  /** The user who asked for help. */
  visitorId: string;
  /** The queue; empty for the general one. */
  skill: string;
  /** The agent serving it; empty while it waits. */
  agentId: string;
  /** Where it stands. */
  state: SupportState;
  /** When it was opened. */
  createdAt: Date;
  /** When an agent took it; undefined while it waits. */
  assignedAt?: Date;
  /** When it was closed; undefined while open. */
  closedAt?: Date;
  /** The visitor's rating, 1 to 5; 0 if not rated. */
  rating: number;
}

/** @internal Converts a wire support session. */
export function toSupportSession(s: WireSupportSession | undefined): SupportSession {
  if (!s) throw new Error("magpie: reply without a support session");
  const out: SupportSession = {
    id: s.id,
    visitorId: s.visitorId,
    skill: s.skill,
    agentId: s.agentId,
    state: s.state as SupportState,
    createdAt: new Date(Number(s.createdAtMs)),
    rating: s.rating,
  };
  if (s.assignedAtMs !== 0n) out.assignedAt = new Date(Number(s.assignedAtMs));
  if (s.closedAtMs !== 0n) out.closedAt = new Date(Number(s.closedAtMs));
  return out;
}
