//! `latch-relay tenant`: apps, their enrollment keys, and enrollment assertions.

use anyhow::{bail, Context};
use clap::Subcommand;
use latch_relay::enrollment::{self, Claims, MAX_LIFETIME_MS};
use latch_relay::http::{is_plain_origin, is_valid_user_id};
use latch_relay::{db, Db};
use serde_json::json;

use super::open_db;

#[derive(Subcommand)]
pub enum TenantCmd {
    /// Create a tenant; prints {"tenantId"}.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        id: Option<String>,
        /// Web origin of the app (repeatable); the status frame answers only these.
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// The tenant consumes page captures.
        #[arg(long)]
        captures: bool,
        /// The app's page where a user types a pairing code, on one of its origins; code
        /// requests answer it (with `?code=`) while it is the only one registered.
        #[arg(long)]
        pair_url: Option<String>,
        #[command(flatten)]
        webhook: WebhookArgs,
    },
    /// Change a tenant: `--webhook-url` sets or replaces its webhook (a new signing secret,
    /// printed once; the old one stops signing), `--no-webhook` removes it.
    Update {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        webhook: WebhookArgs,
        /// Send this tenant no more webhooks (events not yet delivered are dropped).
        #[arg(long, conflicts_with = "webhook_url")]
        no_webhook: bool,
    },
    /// Register an Ed25519 enrollment key for enterprise auto-pair; prints its id. Without
    /// --public-key a key pair is made and the private key printed once (keep it safe).
    EnrollKey {
        #[arg(long)]
        tenant: String,
        /// An existing public key: 32 bytes, base64url (which may start with "-").
        #[arg(long, allow_hyphen_values = true)]
        public_key: Option<String>,
    },
    /// Sign an enrollment assertion {tenantId, userId, aud, exp, nonce} for one browser
    /// (no database needed). The private key comes from LATCH_ENROLL_PRIVATE_KEY or a file.
    SignAssertion {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        /// The relay's public URL, which the assertion is for.
        #[arg(long, default_value = latch_relay::scaffold::DEFAULT_RELAY_URL)]
        aud: String,
        /// How long the assertion stays usable (at most 30 days).
        #[arg(long, default_value_t = 7 * 24 * 3600)]
        ttl_seconds: u64,
        /// A file holding the private key (lesk_…); else LATCH_ENROLL_PRIVATE_KEY.
        #[arg(long)]
        private_key_file: Option<std::path::PathBuf>,
    },
}

/// Where a tenant's webhooks go (PROTOCOL §11).
#[derive(clap::Args)]
pub struct WebhookArgs {
    /// The app's receiver for binding and pairing events: https to a public host (with
    /// --dev also http to localhost or a private address).
    /// Prints {"webhookSecret"} once: the key of each delivery's `Latch-Signature`.
    #[arg(long)]
    webhook_url: Option<String>,
    /// The relay runs with `serve --dev`: the secret derives from the token pepper kept in
    /// the database (else from LATCH_TOKEN_PEPPER, as the relay has it).
    #[arg(long)]
    dev: bool,
}

/// Runs a tenant command; all but `sign-assertion` open the database at `database`.
pub async fn run(c: TenantCmd, database: &str, now: u64) -> anyhow::Result<()> {
    match c {
        TenantCmd::SignAssertion { tenant, user, aud, ttl_seconds, private_key_file } => {
            sign_assertion(tenant, user, aud, ttl_seconds, private_key_file, now)
        }
        TenantCmd::Create { name, id, origins, captures, pair_url, webhook } => {
            let tenant = NewTenant { name, id, origins, captures, pair_url };
            create(&open_db(database).await?, tenant, webhook, now).await
        }
        TenantCmd::Update { id, webhook, no_webhook } => {
            update(&open_db(database).await?, id, webhook, no_webhook, now).await
        }
        TenantCmd::EnrollKey { tenant, public_key } => {
            enroll_key(&open_db(database).await?, tenant, public_key, now).await
        }
    }
}

/// `tenant create`'s flags.
struct NewTenant {
    name: String,
    id: Option<String>,
    origins: Vec<String>,
    captures: bool,
    pair_url: Option<String>,
}

async fn create(db: &Db, t: NewTenant, webhook: WebhookArgs, now: u64) -> anyhow::Result<()> {
    let NewTenant { name, id, origins, captures, pair_url } = t;
    // Any name is taken (trimmed); one that fails the consent-name policy is shown to users
    // as the tenant id instead (`display_name`, at mint).
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 128 {
        bail!("--name must be 1–128 characters");
    }
    let id = id.unwrap_or_else(|| latch_relay::secrets::new_id("tn_"));
    if !db::valid_tenant_id(&id) {
        bail!("--id must be 1–64 of a-z 0-9 _ - and pass the consent-name policy");
    }
    if let Some(bad) = origins.iter().find(|o| !is_plain_origin(o)) {
        bail!("--origin {bad:?} is not an origin like https://app.example.com");
    }
    let webhook_url = webhook.webhook_url.as_deref().map(|url| checked_webhook_url(url, webhook.dev)).transpose()?;
    // The pepper before the tenant: without it, nothing is made.
    let pepper = match webhook_url {
        Some(_) => Some(webhook_pepper(db, webhook.dev).await?),
        None => None,
    };
    let pair_url = match pair_url {
        Some(url) => match latch_relay::http::page_on_origins(&url, &origins) {
            Some(url) => Some(url),
            None => bail!("--pair-url must be an http(s) page on one of the tenant's --origin values"),
        },
        None => None,
    };
    if db::tenant(db, &id).await?.is_some() {
        bail!("tenant {id:?} already exists");
    }
    db::create_tenant(db, &db::Tenant { id: id.clone(), name, origins, captures }, now).await?;
    if let Some(url) = pair_url {
        db::set_pair_url(db, &id, &url).await?;
    }
    let mut out = json!({ "tenantId": id });
    if let (Some(url), Some(pepper)) = (webhook_url, pepper) {
        out["webhookSecret"] = issue_webhook_secret(db, &pepper, &id, &url).await?.into();
    }
    println!("{out}");
    Ok(())
}

async fn update(db: &Db, id: String, webhook: WebhookArgs, no_webhook: bool, now: u64) -> anyhow::Result<()> {
    if db::tenant(db, &id).await?.is_none() {
        bail!("no tenant {id:?}");
    }
    let mut out = json!({ "tenantId": id });
    match webhook.webhook_url.as_deref().map(|url| checked_webhook_url(url, webhook.dev)).transpose()? {
        Some(url) => {
            let pepper = webhook_pepper(db, webhook.dev).await?;
            out["webhookSecret"] = issue_webhook_secret(db, &pepper, &id, &url).await?.into();
        }
        None if no_webhook => {
            db::remove_webhook(db, &id, now).await?;
            out["webhook"] = serde_json::Value::Null;
        }
        None => bail!("nothing to change: give --webhook-url URL or --no-webhook"),
    }
    println!("{out}");
    Ok(())
}

fn checked_webhook_url(raw: &str, dev: bool) -> anyhow::Result<String> {
    match latch_relay::webhooks::check_url(raw, dev) {
        Ok(url) => Ok(url.to_string()),
        Err(why) => bail!("--webhook-url {raw:?}: {why}"),
    }
}

/// The pepper webhook secrets derive from, as the relay has it: the environment's, or with
/// `--dev` the database's.
async fn webhook_pepper(db: &Db, dev: bool) -> anyhow::Result<Vec<u8>> {
    let keys = db::token_keys(db, dev).await.context("the webhook signing secret is derived from the token pepper")?;
    Ok(keys.pepper)
}

/// A new signing secret for the tenant's webhooks at `url` (`webhooks::issue_secret`).
async fn issue_webhook_secret(db: &Db, pepper: &[u8], tenant_id: &str, url: &str) -> anyhow::Result<String> {
    match latch_relay::webhooks::issue_secret(db, pepper, tenant_id, url).await? {
        Some(secret) => Ok(secret),
        None => bail!("no tenant {tenant_id:?}"),
    }
}

async fn enroll_key(db: &Db, tenant: String, public_key: Option<String>, now: u64) -> anyhow::Result<()> {
    if db::tenant(db, &tenant).await?.is_none() {
        bail!("no tenant {tenant:?}");
    }
    let (private_key, public_key) = match public_key {
        Some(p) => (None, p),
        None => {
            let (private, public) = enrollment::generate();
            (Some(private), public)
        }
    };
    let Some(bytes) = enrollment::parse_public_key(&public_key) else {
        bail!("--public-key must be an Ed25519 public key: 32 bytes in base64url");
    };
    let key_id = db::enrollment::insert_key(db, &tenant, &bytes, now)
        .await
        .map_err(|e| anyhow::anyhow!("cannot register the key (already registered?): {e}"))?;
    let mut out = json!({ "keyId": key_id, "tenantId": tenant, "publicKey": public_key });
    if let Some(private) = private_key {
        out["privateKey"] = private.into();
    }
    println!("{out}");
    Ok(())
}

fn sign_assertion(
    tenant: String,
    user: String,
    aud: String,
    ttl_seconds: u64,
    private_key_file: Option<std::path::PathBuf>,
    now: u64,
) -> anyhow::Result<()> {
    if ttl_seconds == 0 || ttl_seconds * 1000 > MAX_LIFETIME_MS {
        bail!("--ttl-seconds must be 1 to {} (30 days)", MAX_LIFETIME_MS / 1000);
    }
    if !db::valid_tenant_id(&tenant) {
        bail!("--tenant must be a tenant id");
    }
    if !is_valid_user_id(&user) {
        bail!("--user must be 1–128 characters, no control or format characters or surrounding spaces");
    }
    let aud = aud.trim_end_matches('/').to_owned();
    if !is_plain_origin(&aud) {
        bail!("--aud must be the relay's URL, like https://latch.example.com");
    }
    let private_key = match private_key_file {
        Some(path) => std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?,
        None => std::env::var("LATCH_ENROLL_PRIVATE_KEY")
            .map_err(|_| anyhow::anyhow!("give the private key in LATCH_ENROLL_PRIVATE_KEY or --private-key-file"))?,
    };
    let exp = (now / 1000) + ttl_seconds;
    let claims = Claims { tenant_id: tenant, user_id: user, aud, exp, nonce: enrollment::new_nonce() };
    let assertion = enrollment::sign(&private_key, &claims).map_err(|e| anyhow::anyhow!(e))?;
    println!("{}", json!({ "assertion": assertion, "exp": exp, "nonce": claims.nonce }));
    Ok(())
}
