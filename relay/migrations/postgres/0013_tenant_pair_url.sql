-- The app's page where a user types a pairing code (`tenant create --pair-url`): the code
-- request answers it as `url`, with `?code=` filled in, when only one tenant has one.
ALTER TABLE tenants ADD COLUMN pair_url TEXT;
