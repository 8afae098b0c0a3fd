-- When each single-sign-on account last signed in through its provider: its API tokens work only
-- while that sign-in would still hold a session (dashboard.max_session_hours), so a person the
-- provider no longer vouches for stops reaching the API too. 0: never (tokens made before this).
ALTER TABLE accounts ADD COLUMN signed_in_ns BIGINT NOT NULL DEFAULT 0;
