-- 0021: chat room bans (store.RoomBan): a banned user cannot join the room
-- until the ban is lifted. They go with their room (DeleteRoom) and with
-- their user (DeleteUser, through room_bans_user).

CREATE TABLE room_bans (
	app_id     TEXT    NOT NULL,
	room_id    TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	reason     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, room_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX room_bans_user ON room_bans (app_id, user_id);
