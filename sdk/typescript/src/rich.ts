/**
 * Rich messages (docs/protocol.md, Rich messages): typed contents, edits,
 * recalls and reactions.
 *
 * @module
 */
import type { ReactionUpdate as WireReactionUpdate } from "./gen/magpie/v1/magpie_pb.js";
import type { Message } from "./events.js";

/** Message types. Text and custom are free-form; the others carry a JSON object the server checks. */
export const MessageType = {
  /** Plain text. */
  Text: "text",
  /** An app-defined JSON document. */
  Custom: "custom",
  /** An image: {@link ImageContent}. */
  Image: "image",
  /** A file: {@link FileContent}. */
  File: "file",
  /** An audio clip: {@link AudioContent}. */
  Audio: "audio",
  /** A video: {@link VideoContent}. */
  Video: "video",
  /** A place: {@link LocationContent}. */
  Location: "location",
  /** A notice the server posts (group changes, contacts); clients cannot send it. */
  Notice: "notice",
} as const;

/**
 * The content of an image message. URLs are http(s), or references to
 * uploaded files ({@link fileRef}), at most 2048 bytes.
 */
export interface ImageContent {
  /** The kind of content. */
  type: "image";
  /** Where the image is. */
  url: string;
  /** Its width in pixels, at least 1. */
  width: number;
  /** Its height in pixels, at least 1. */
  height: number;
  /** Its size in bytes. */
  size: number;
  /** Its media type, such as `"image/png"`. */
  mime: string;
  /** A smaller version. */
  thumbnailUrl?: string;
}

/** The content of a file message. */
export interface FileContent {
  /** The kind of content. */
  type: "file";
  /** Where the file is. */
  url: string;
  /** The file's name, 1 to 255 bytes. */
  name: string;
  /** Its size in bytes. */
  size: number;
  /** Its media type. */
  mime: string;
}

/** The content of an audio message. */
export interface AudioContent {
  /** The kind of content. */
  type: "audio";
  /** Where the clip is. */
  url: string;
  /** Its length in milliseconds. */
  durationMs: number;
  /** Its size in bytes. */
  size: number;
  /** Its media type. */
  mime: string;
}

/** The content of a video message. */
export interface VideoContent {
  /** The kind of content. */
  type: "video";
  /** Where the video is. */
  url: string;
  /** Its length in milliseconds. */
  durationMs: number;
  /** Its width in pixels. */
  width?: number;
  /** Its height in pixels. */
  height?: number;
  /** Its size in bytes. */
  size: number;
  /** Its media type. */
  mime: string;
  /** A still of the video. */
  thumbnailUrl?: string;
}

/** The content of a location message. */
export interface LocationContent {
  /** The kind of content. */
  type: "location";
  /** -90 to 90. */
  latitude: number;
  /** -180 to 180. */
  longitude: number;
  /** The place's name, at most 256 bytes. */
  name?: string;
  /** Its address, at most 1024 bytes. */
  address?: string;
}

/** The content of a text message. */
export interface TextContent {
  /** The kind of content. */
  type: "text";
  /** The text. */
  text: string;
}

/** The content of a custom message: any JSON value of the app's. */
export interface CustomContent {
  /** The kind of content. */
  type: "custom";
  /** The app's data, sent as JSON. */
  data: unknown;
}

/**
 * The content of a message, by its type: what
 * {@link MagpieClient.sendTyped} sends and {@link decodeContent} returns.
 * Encoded, the fields are the wire's (`thumbnail_url`, `duration_ms`).
 */
export type TypedContent =
  | TextContent
  | CustomContent
  | ImageContent
  | FileContent
  | AudioContent
  | VideoContent
  | LocationContent;

/** Wire names of the fields whose TypeScript names differ. */
const wireNames: Record<string, string> = { thumbnailUrl: "thumbnail_url", durationMs: "duration_ms" };

/**
 * Returns the message type and the content string of a typed content, for
 * {@link MagpieClient.sendAsync} and the server API.
 */
export function encodeContent(c: TypedContent): { type: string; content: string } {
  switch (c.type) {
    case "text":
      return { type: c.type, content: c.text };
    case "custom": {
      const json = JSON.stringify(c.data);
      if (json === undefined) throw new TypeError("magpie: custom content is not JSON");
      return { type: c.type, content: json };
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) {
    if (k === "type" || v === undefined) continue;
    out[wireNames[k] ?? k] = v;
  }
  return { type: c.type, content: JSON.stringify(out) };
}

/**
 * Returns the typed content of a message, or `undefined` for a type this
 * client does not know (a notice, say) or a content that is not JSON.
 * Fields a newer sender added are kept, under their wire names; fields
 * missing from a malformed content are left out.
 */
export function decodeContent(m: Pick<Message, "type" | "content">): TypedContent | undefined {
  switch (m.type) {
    case "text":
      return { type: "text", text: m.content };
    case "custom":
    case "image":
    case "file":
    case "audio":
    case "video":
    case "location":
      break;
    default:
      return undefined;
  }
  let v: unknown;
  try {
    v = JSON.parse(m.content);
  } catch {
    return undefined;
  }
  if (m.type === "custom") return { type: "custom", data: v };
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, unknown> = { type: m.type };
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (k === "type") continue;
    const name = Object.keys(wireNames).find((n) => wireNames[n] === k) ?? k;
    out[name] = x;
  }
  return out as unknown as TypedContent;
}

/** A message already reported was edited by its sender: `message` is the new version ({@link Message.editedAt} set). */
export interface Edit {
  /** The new version. */
  message: Message;
}

/** A member added or removed an emoji on a message: `count` is the message's new count for that emoji. */
export interface Reaction {
  /** The conversation id. */
  convId: string;
  /** The message's seq. */
  seq: number;
  /** The emoji. */
  emoji: string;
  /** How many members put it now. */
  count: number;
  /** The member who acted. */
  userId: string;
  /** False for a removal. */
  added: boolean;
  /** When it happened. */
  at: Date;
}

/** One emoji's count on a message, from {@link MagpieClient.reactions}. */
export interface ReactionCount {
  /** The emoji. */
  emoji: string;
  /** How many members put it. */
  count: number;
  /** Whether the user is among them. */
  reacted: boolean;
}

/** @internal Converts a wire reaction update. */
export function toReaction(u: WireReactionUpdate | undefined): Reaction {
  if (!u) throw new Error("magpie: reply without a reaction update");
  return {
    convId: u.convId,
    seq: Number(u.seq),
    emoji: u.emoji,
    count: Number(u.count),
    userId: u.userId,
    added: u.added,
    at: new Date(Number(u.atMs)),
  };
}
