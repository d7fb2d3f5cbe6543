// Turns received, fetched and sent messages into message events: exactly
// once, in seq order within each conversation.
import type { ConversationState, Message as WireMessage, Receipt as WireReceipt } from "./gen/magpie/v1/magpie_pb.js";
import { Receipt_Kind } from "./gen/magpie/v1/magpie_pb.js";
import { groupIdOf, type Message, type Receipt, type ReceiptKind } from "./events.js";

/** Messages at seq >= next + maxPending are dropped and fetched again later. */
const maxPending = 1024;

/** The receiver's state of one conversation. */
interface ConvState {
  /** The lowest seq not yet reported: every seq below was reported or does not exist. */
  next: number;
  /** The highest seq known to exist; next <= high is a gap. */
  high: number;
  /** Messages received ahead of next, by seq. */
  pending: Map<number, Message>;
  peerDelivered: number;
  peerRead: number;
  read: number;
  /** The members, once known from the conversation's state or a send to it. */
  members: string[];
  known: boolean;
}

/** Where the receiver reports to. */
export interface ReceiverSink {
  message(m: Message): void;
  recall(convId: string, seq: number): void;
  edit(m: Message): void;
  receipt(r: Receipt): void;
}

/** Tracks, per conversation, what was reported and what is missing. */
export class Receiver {
  private readonly convs = new Map<string, ConvState>();

  constructor(private readonly sink: ReceiverSink) {}

  private conv(id: string): ConvState {
    let cs = this.convs.get(id);
    if (!cs) {
      cs = { next: 1, high: 0, pending: new Map(), peerDelivered: 0, peerRead: 0, read: 0, members: [], known: false };
      this.convs.set(id, cs);
    }
    return cs;
  }

  /** Resumes conversations after the given cursors. */
  load(cursors: Record<string, number>): void {
    for (const [id, seq] of Object.entries(cursors)) {
      const cs = this.conv(id);
      cs.next = Math.max(cs.next, seq + 1);
      cs.high = Math.max(cs.high, seq);
    }
  }

  /** Takes received messages and reports whether a conversation now has a gap, or unknown members. */
  add(msgs: Message[]): boolean {
    let gap = false;
    for (const m of msgs) {
      const cs = this.conv(m.convId);
      this.insert(cs, m, true);
      gap = this.advance(cs) || !cs.known || gap;
    }
    return gap;
  }

  /** Records a conversation's members unless its state told them already. */
  learn(convId: string, members: string[]): void {
    const cs = this.conv(convId);
    if (!cs.known) {
      cs.members = [...members];
      cs.known = true;
    }
  }

  /** The conversations with messages waiting for their members, sorted. */
  unknown(): string[] {
    const ids: string[] = [];
    for (const [id, cs] of this.convs) if (!cs.known && (cs.pending.size > 0 || cs.next <= cs.high)) ids.push(id);
    return ids.sort();
  }

  /** A conversation's members, if known. */
  membersOf(convId: string): string[] {
    return this.convs.get(convId)?.members ?? [];
  }

  private insert(cs: ConvState, m: Message, bounded: boolean): void {
    cs.high = Math.max(cs.high, m.seq);
    if (m.seq < cs.next) {
      if (m.recalled) this.sink.recall(m.convId, m.seq);
      else if (m.editedAt) this.sink.edit({ ...m, members: cs.members }); // an edit, or a replay of one
      return; // a duplicate otherwise
    }
    if (!bounded || m.seq < cs.next + maxPending) {
      const old = cs.pending.get(m.seq);
      if (!old || !old.recalled) cs.pending.set(m.seq, m);
    }
  }

  private report(cs: ConvState, m: Message): boolean {
    if (!cs.known) return false; // the filler fetches the conversation's state first
    m.members = cs.members;
    this.sink.message(m);
    return true;
  }

  /** Reports the pending messages that follow the cursor; returns whether a gap remains. */
  private advance(cs: ConvState): boolean {
    for (;;) {
      const m = cs.pending.get(cs.next);
      if (!m) break;
      if (!this.report(cs, m)) return false;
      cs.pending.delete(cs.next);
      cs.next++;
    }
    return cs.next <= cs.high;
  }

  /** Reports what follows every cursor. */
  advanceAll(): void {
    for (const cs of this.convs.values()) this.advance(cs);
  }

  /** Records that seq exists in a conversation; returns whether that opens a gap. */
  noteSeq(convId: string, seq: number): boolean {
    const cs = this.conv(convId);
    cs.high = Math.max(cs.high, seq);
    return cs.next <= cs.high;
  }

  /** The conversations with a gap, sorted. */
  gaps(): string[] {
    const ids: string[] = [];
    for (const [id, cs] of this.convs) if (cs.next <= cs.high) ids.push(id);
    return ids.sort();
  }

  /** The range of a conversation's first gap: from its cursor to the message before the next pending one. */
  fillRange(convId: string): [number, number] | undefined {
    const cs = this.conv(convId);
    if (!this.advance(cs)) return undefined;
    let to = cs.high;
    for (const seq of cs.pending.keys()) to = Math.min(to, seq - 1);
    return [cs.next, to];
  }

  /**
   * Takes a page fetched for the range [from, to] and returns whether the
   * cursor moved. If the page holds the whole range (!more), a seq of the
   * range it lacks does not exist (a failed send): the cursor skips it.
   */
  resolve(convId: string, from: number, to: number, msgs: Message[], more: boolean): boolean {
    const cs = this.conv(convId);
    const before = cs.next;
    let last = to;
    if (more) last = msgs.length > 0 ? msgs[msgs.length - 1].seq : from - 1;
    for (const m of msgs) this.insert(cs, m, false);
    while (cs.next <= last) {
      const m = cs.pending.get(cs.next);
      if (m) {
        if (!this.report(cs, m)) break;
        cs.pending.delete(cs.next);
      }
      cs.next++;
    }
    this.advance(cs);
    return cs.next > before;
  }

  /** Reports a pushed receipt and remembers its progress. */
  receipt(r: Receipt, me: string): void {
    const cs = this.conv(r.convId);
    if (r.kind === "read" && r.userId === me) cs.read = Math.max(cs.read, r.seq);
    else if (r.kind === "read") cs.peerRead = Math.max(cs.peerRead, r.seq);
    else if (r.kind === "delivered") cs.peerDelivered = Math.max(cs.peerDelivered, r.seq);
    this.sink.receipt(r);
  }

  /**
   * Takes a conversation's state fetched after login: notes its last seq and
   * reports receipts for progress this client has not heard of. Returns
   * whether the conversation has a gap.
   */
  state(st: ConversationState, me: string): boolean {
    const id = st.convId;
    const cs = this.conv(id);
    cs.members = [...st.members];
    cs.known = true;
    cs.high = Math.max(cs.high, Number(st.maxSeq));
    const first = Number(st.firstSeq);
    if (first > cs.next) {
      // Messages below first_seq are not this user's: never wait for them.
      for (const seq of cs.pending.keys()) if (seq < first) cs.pending.delete(seq);
      cs.next = first;
    }
    const read = Number(st.readSeq);
    if (read > cs.read) {
      cs.read = read;
      this.sink.receipt({ kind: "read", convId: id, seq: read, userId: me });
    }
    const peer = peerOf(st.members, me);
    if (peer !== "") {
      const delivered = Number(st.peerDeliveredSeq);
      if (delivered > cs.peerDelivered) {
        cs.peerDelivered = delivered;
        this.sink.receipt({ kind: "delivered", convId: id, seq: delivered, userId: peer });
      }
      const peerRead = Number(st.peerReadSeq);
      if (peerRead > cs.peerRead) {
        cs.peerRead = peerRead;
        this.sink.receipt({ kind: "read", convId: id, seq: peerRead, userId: peer });
      }
    }
    return cs.next <= cs.high;
  }
}

/** The one member other than me, or "" if there is not exactly one. */
function peerOf(members: string[], me: string): string {
  let peer = "";
  for (const m of members) {
    if (m === me) continue;
    if (peer !== "") return "";
    peer = m;
  }
  return peer;
}

/** Converts a wire message for the user me; the receiver adds the members. */
export function toMessage(m: WireMessage, me: string): Message {
  const out: Message = {
    convId: m.convId,
    seq: Number(m.seq),
    senderId: m.senderId,
    clientMsgId: m.clientMsgId,
    type: m.type,
    content: m.content,
    createdAt: new Date(Number(m.createdAtMs)),
    recalled: m.recalled,
    members: [],
    own: m.senderId === me,
    groupId: groupIdOf(m.convId),
    mentions: [...m.mentions],
    mentionAll: m.mentionAll,
  };
  if (m.editedAtMs !== 0n) out.editedAt = new Date(Number(m.editedAtMs));
  return out;
}

/** Converts a wire receipt. */
export function toReceipt(r: WireReceipt): Receipt | undefined {
  let kind: ReceiptKind;
  switch (r.kind) {
    case Receipt_Kind.DELIVERED:
      kind = "delivered";
      break;
    case Receipt_Kind.STORED:
      kind = "stored";
      break;
    case Receipt_Kind.READ:
      kind = "read";
      break;
    default:
      return undefined;
  }
  const out: Receipt = { kind, convId: r.convId, seq: Number(r.seq), userId: r.userId };
  if (r.atMs !== 0n) out.at = new Date(Number(r.atMs));
  return out;
}
