// Encodings of frames on the WebSocket.
import { fromBinary, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "./gen/magpie/v1/magpie_pb.js";

/**
 * The frame encoding: `"proto"` for binary protobuf frames (subprotocol
 * `magpie.v1.proto`, the default), `"json"` for protobuf JSON frames in
 * text messages (subprotocol `magpie.v1.json`).
 */
export type Encoding = "proto" | "json";

/** The WebSocket subprotocol of an encoding. */
export function subprotocol(enc: Encoding): string {
  return enc === "json" ? "magpie.v1.json" : "magpie.v1.proto";
}

/** Encodes a frame for the wire. */
export function encodeFrame(enc: Encoding, f: Frame): Uint8Array | string {
  if (enc === "json") {
    // The server reads the .proto field names; it refuses unknown fields,
    // and this encoder writes only the schema's.
    return toJsonString(FrameSchema, f, { useProtoFieldName: true });
  }
  return toBinary(FrameSchema, f);
}

/**
 * Decodes a frame from the wire. Fields a newer server adds are ignored, in
 * both encodings. Several Deliver pushes concatenated in one binary message
 * decode as one Deliver holding all their messages (protobuf merges a
 * repeated occurrence of a oneof message field).
 */
export function decodeFrame(enc: Encoding, data: unknown): Frame {
  if (typeof data === "string") {
    return fromJsonString(FrameSchema, data, { ignoreUnknownFields: true });
  }
  let bytes: Uint8Array;
  if (data instanceof Uint8Array) bytes = data;
  else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else if (Array.isArray(data)) {
    // ws may hand over fragments as an array of buffers.
    const parts = data as Uint8Array[];
    bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let off = 0;
    for (const p of parts) {
      bytes.set(p, off);
      off += p.byteLength;
    }
  } else throw new Error(`magpie: unexpected WebSocket message of type ${typeof data}`);
  if (enc === "json") {
    return fromJsonString(FrameSchema, new TextDecoder().decode(bytes), { ignoreUnknownFields: true });
  }
  return fromBinary(FrameSchema, bytes);
}
