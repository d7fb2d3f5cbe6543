/**
 * Files and images (docs/files.md): uploads over HTTP with the user's
 * client token, references in messages, download URLs.
 *
 * @module
 */
import type { FileLink } from "./gen/magpie/v1/magpie_pb.js";
import { MagpieError } from "./errors.js";

/** The prefix of a reference to an uploaded file in a typed content's `url` or `thumbnail_url`. */
export const FILE_REF_SCHEME = "magpie-file:";

/** Returns the reference to an uploaded file for a typed content's `url`: `{url: fileRef(f.id), ...}`. */
export function fileRef(id: string): string {
  return FILE_REF_SCHEME + id;
}

/** Returns the id of the uploaded file a content URL references, or `undefined` for a plain URL. */
export function fileIdOf(contentUrl: string): string | undefined {
  if (contentUrl.length > FILE_REF_SCHEME.length && contentUrl.slice(0, FILE_REF_SCHEME.length).toLowerCase() === FILE_REF_SCHEME) {
    return contentUrl.slice(FILE_REF_SCHEME.length);
  }
  return undefined;
}

/** An uploaded file, with a download URL. */
export interface FileInfo {
  id: string;
  /** The conversation the file is shared to: only its members get URLs, only its messages may reference it. */
  convId: string;
  /** The user who uploaded it; empty if the app's backend did. */
  uploaderId: string;
  name: string;
  contentType: string;
  size: number;
  /** The hex SHA-256 of the content. */
  sha256: string;
  /** When it was uploaded, Unix milliseconds. */
  createdAtMs: number;
  /**
   * Downloads the file with a plain GET (no token: it works in `<img src>`),
   * until `urlExpiresAtMs` and while the user may read the file. Absolute.
   */
  url: string;
  /** When `url` stops working, Unix milliseconds. */
  urlExpiresAtMs: number;
}

/** A file to upload with {@link MagpieClient.uploadFile}. */
export interface FileUpload {
  /** The conversation the file is shared to (`g:<group>`, or `p:<a>:<b>` even before its first message). */
  convId: string;
  /** The file's name. Default: a `File`'s own name. */
  name?: string;
  /** The file's media type. Default: a `Blob`'s own type, or the server decides from the content. */
  contentType?: string;
}

/** Returns the HTTP base URL of the server at `base` (http, https, ws or wss, with or without `/v1/connect`). */
export function httpBase(base: string): string {
  const u = new URL(base);
  u.protocol = u.protocol === "wss:" || u.protocol === "https:" ? "https:" : "http:";
  u.pathname = u.pathname.replace(/\/+$/, "").replace(/\/v1\/connect$/, "");
  u.search = "";
  u.hash = "";
  return u.toString().replace(/\/+$/, "");
}

/** Resolves a URL the server answered (relative unless it has a public URL) against the HTTP base. */
export function absoluteURL(base: string, ref: string): string {
  return ref === "" || /^https?:\/\//.test(ref) ? ref : base + ref;
}

/** The JSON of a file in HTTP answers. */
interface FileJSON {
  id: string;
  conv_id: string;
  uploader_id: string;
  name: string;
  content_type: string;
  size: number;
  sha256: string;
  created_at: string;
  url?: string;
  url_expires_at?: string;
}

/** Converts an HTTP answer's file. */
export function fromFileJSON(base: string, f: FileJSON): FileInfo {
  return {
    id: f.id,
    convId: f.conv_id,
    uploaderId: f.uploader_id,
    name: f.name,
    contentType: f.content_type,
    size: f.size,
    sha256: f.sha256,
    createdAtMs: Date.parse(f.created_at),
    url: absoluteURL(base, f.url ?? ""),
    urlExpiresAtMs: f.url_expires_at ? Date.parse(f.url_expires_at) : 0,
  };
}

/** Converts a `FileLink` frame. */
export function fromFileLink(base: string, l: FileLink): FileInfo {
  return {
    id: l.fileId,
    convId: l.convId,
    uploaderId: l.uploaderId,
    name: l.name,
    contentType: l.contentType,
    size: Number(l.size),
    sha256: l.sha256,
    createdAtMs: Number(l.createdAtMs),
    url: absoluteURL(base, l.url),
    urlExpiresAtMs: Number(l.urlExpiresAtMs),
  };
}

/** Uploads `body` with `token`; throws a {@link MagpieError} carrying the HTTP status for a refusal. */
export async function postFile(
  base: string,
  token: string,
  body: Blob | ArrayBuffer | Uint8Array,
  up: FileUpload,
  signal?: AbortSignal,
): Promise<FileInfo> {
  const q = new URLSearchParams({ conv_id: up.convId });
  const name = up.name ?? (typeof File !== "undefined" && body instanceof File ? body.name : "");
  if (name) q.set("name", name);
  const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  const type = up.contentType ?? (body instanceof Blob ? body.type : "");
  if (type) headers["Content-Type"] = type;
  const res = await fetch(`${base}/v1/client/files?${q}`, { method: "POST", headers, body: body as BodyInit, signal });
  const text = await res.text();
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = res.statusText;
    try {
      // The error body of docs/errors.md.
      const e = (JSON.parse(text) as { error?: { code: string; message: string } }).error;
      if (e?.code) ({ code, message } = e);
    } catch {
      // not a Magpie error body
    }
    throw new HTTPError(res.status, code, message, res.status === 429 || res.status >= 500);
  }
  return fromFileJSON(base, (JSON.parse(text) as { file: FileJSON }).file);
}

/** A refusal of an HTTP request (an upload): a {@link MagpieError} with the HTTP status. */
export class HTTPError extends MagpieError {
  /** The HTTP status, such as 413 for `file_too_large`. */
  readonly status: number;

  /** Creates the error of an HTTP answer. */
  constructor(status: number, code: string, detail: string, retryable: boolean) {
    super(code, detail, retryable);
    this.name = "HTTPError";
    this.status = status;
  }
}
