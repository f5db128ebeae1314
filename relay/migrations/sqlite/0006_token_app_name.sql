-- The app name a pairing token's consent prompt shows, worked out once at mint (the
-- consent-name policy runs in the relay, not in SQL): describe shows it and redeem binds
-- it, so the user approves exactly the name that gets bound, and a redeem needs no read
-- of the names first. NULL for tokens minted before this migration or by an older
-- instance; those are named at describe and redeem as before.
ALTER TABLE pairing_tokens ADD COLUMN app_name TEXT;
