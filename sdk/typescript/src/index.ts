/**
 * The TypeScript client SDK of Magpie: one user's device, connected over a
 * WebSocket, with the protocol's guarantees (docs/protocol.md).
 *
 * @packageDocumentation
 */
export {
  MagpieClient,
  NotRunningError,
  VERSION,
  connectURL,
  type ClientOptions,
  type ClientStats,
  type CursorStore,
  type Device,
  type GroupSendOptions,
  type PushOptions,
  type PushSettings,
  type SearchOptions,
  type SendOptions,
} from "./client.js";
export type { Encoding } from "./codec.js";
export { directConvId, type Conversation, type ConversationPrefs } from "./conversations.js";
export {
  FriendStatus,
  systemConvId,
  type BlockedPage,
  type BlockedUser,
  type ContactEventKind,
  type ContactNotice,
  type Friend,
  type FriendPage,
  type FriendRequest,
  type FriendRequestPage,
} from "./contacts.js";
export {
  MessageType,
  decodeContent,
  encodeContent,
  type AudioContent,
  type CustomContent,
  type Edit,
  type FileContent,
  type ImageContent,
  type LocationContent,
  type Reaction,
  type ReactionCount,
  type TextContent,
  type TypedContent,
  type VideoContent,
} from "./rich.js";
export {
  RoomLeftReason,
  type RoomAck,
  type RoomInfo,
  type RoomJoin,
  type RoomLeft,
  type RoomMemberCount,
  type RoomMessage,
} from "./rooms.js";
export { SupportState, type SupportSession } from "./support.js";
export type { Presence, PresenceSubscription } from "./presence.js";
export {
  BlockedError,
  ClientClosedError,
  CloseCode,
  CloseError,
  ConnectionLostError,
  ErrorCode,
  MagpieError,
  NotFriendsError,
  RequestTimeoutError,
  RoomBannedError,
  SendTimeoutError,
  errorFromCode,
  isRetryable,
  isTerminal,
} from "./errors.js";
export {
  EventIterator,
  groupConvId,
  groupIdOf,
  isMentioned,
  type ClientEvent,
  type ClientEvents,
  type Connected,
  type Disconnected,
  type Listener,
  type Message,
  type Recall,
  type Receipt,
  type ReceiptKind,
  type SessionInfo,
  type Typing,
} from "./events.js";
export {
  GroupRole,
  JoinPolicy,
  type Group,
  type GroupMember,
  type GroupMemberPage,
  type GroupReads,
  type GroupUpdate,
  type JoinRequest,
  type JoinRequestPage,
  type MembersResult,
  type NewGroup,
} from "./groups.js";
export {
  FILE_REF_SCHEME,
  HTTPError,
  fileIdOf,
  fileRef,
  type FileInfo,
  type FileUpload,
} from "./files.js";
export { Outgoing, type SendResult } from "./outbox.js";
export type { WebSocketConstructor, WebSocketLike } from "./transport.js";
/** The generated protocol types (protobuf-es), for advanced use. */
export * as proto from "./gen/magpie/v1/magpie_pb.js";
