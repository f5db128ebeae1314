//! Offer parking: the pure rules for pairing tokens handed to the extension and waiting
//! for the user's decision. The book is stored whole in `chrome.storage.session`
//! (`latch.offers`), so it survives a worker restart; every method takes `now`.

use latch_wire::api::{DescribeResponse, REDEEM_RETRY_MS};
use latch_wire::external::{OfferRefusal, OfferState, ResultReply};
use latch_wire::origin::verified_opener;
use latch_wire::panel::{PendingView, PromptVia};
use latch_wire::token::is_pairing_token;
use latch_wire::EpochMs;
use serde::{Deserialize, Serialize};

use super::errors::CommandError;

/// At most this many offers await approval at once.
pub const MAX_PARKED: usize = 5;
/// Upper bound on a token's life before the relay has described it (the relay's TTL).
pub const UNDESCRIBED_TTL_MS: u64 = 120_000;
/// Offers accepted per sliding minute before `rate_limited`.
pub const MAX_OFFERS_PER_MINUTE: usize = 20;
const MINUTE_MS: u64 = 60_000;
/// How long a decided offer's outcome stays readable by `pairing.result`.
pub const OUTCOME_KEEP_MS: u64 = 5 * 60_000;
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParkedOffer {
    pub offer_id: String,
    /// Cleared as soon as the offer is decided: a decided token is never kept.
    pub pairing_token: Option<String>,
    /// The connect page's tab, closed after approval. `None` for a manual paste.
    pub tab_id: Option<i32>,
    pub state: OfferState,
    pub created_at: EpochMs,
    pub expires_at: EpochMs,
    /// When the offer left `awaiting_approval` (for expiry of the outcome record).
    pub decided_at: Option<EpochMs>,
    /// The worker instance whose redeem is in flight, so a double click cannot redeem
    /// twice. A redeem marked by another instance was cut off when its worker stopped: the
    /// new worker repeats it (same redeem key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeem_by: Option<String>,
    /// Made at the first Approve and sent with every redeem attempt of this offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeem_key: Option<String>,
    pub app_name: Option<String>,
    pub tenant_id: Option<String>,
    pub user_id: Option<String>,
    pub error: Option<String>,
    /// One-click from the connect page, or pasted into the panel.
    #[serde(default)]
    pub via: PromptVia,
    /// The opener the connect page reported (§4). Until describe it is only a claim; after
    /// it, only an origin the relay lists for the tenant is kept (`verified_opener`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opener: Option<String>,
}

/// Where an offer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The connect page's tab, closed after approval. `None` for a manual paste.
    pub tab_id: Option<i32>,
    pub via: PromptVia,
    /// The connect page's verified opener, if it reported one.
    pub opener: Option<String>,
}

impl Arrival {
    pub fn connect_page(tab_id: Option<i32>, opener: Option<String>) -> Self {
        Self { tab_id, via: PromptVia::OneClick, opener }
    }

    pub fn pasted() -> Self {
        Self { tab_id: None, via: PromptVia::PastedToken, opener: None }
    }
}

/// What a redeem attempt sends (`POST /pairing-tokens/redeem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeem {
    pub pairing_token: String,
    pub redeem_key: String,
    /// How the token came: the relay records it as the binding's `via`.
    pub via: PromptVia,
}

/// Result of [`OfferBook::offer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferOutcome {
    /// Newly parked: the caller should describe it and show the prompt.
    Parked {
        offer_id: String,
    },
    /// The same token was already parked: same id, nothing new to do.
    AlreadyParked {
        offer_id: String,
    },
    Refused(OfferRefusal),
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferBook {
    pub offers: Vec<ParkedOffer>,
    /// Arrival times of accepted offers within the last minute (rate limit).
    #[serde(default)]
    pub recent: Vec<EpochMs>,
}

impl OfferBook {
    /// Expires awaiting offers whose token has run out and forgets old outcomes.
    pub fn prune(&mut self, now: EpochMs) {
        for o in &mut self.offers {
            // Once a redeem was attempted the relay may have committed it: the offer stays
            // retryable a while past the token's expiry, so the binding can be recovered.
            let retry = if o.redeem_key.is_some() { REDEEM_RETRY_MS } else { 0 };
            if o.state == OfferState::AwaitingApproval && o.expires_at + retry <= now {
                o.decide(OfferState::Failed, Some("token_expired"), now);
            }
        }
        self.offers.retain(|o| o.decided_at.is_none_or(|t| now.ms_since(t) < OUTCOME_KEEP_MS));
        self.recent.retain(|&t| now.ms_since(t) < MINUTE_MS && t <= now);
    }

    /// [`OfferBook::offer_from`] for a connect page's offer without an opener (`tab_id`
    /// set) or a pasted token (`None`).
    pub fn offer(
        &mut self,
        token: &str,
        tab_id: Option<i32>,
        now: EpochMs,
        new_id: impl FnOnce() -> String,
    ) -> OfferOutcome {
        let arrival = if tab_id.is_some() { Arrival::connect_page(tab_id, None) } else { Arrival::pasted() };
        self.offer_from(token, arrival, now, new_id)
    }

    /// Parks `token` unless its shape, the rate limit or the parking limit refuses it.
    /// `new_id` is only used when a new offer is parked. Re-offering a parked token
    /// resumes it and never changes its opener (a second page can't relabel a prompt).
    pub fn offer_from(
        &mut self,
        token: &str,
        arrival: Arrival,
        now: EpochMs,
        new_id: impl FnOnce() -> String,
    ) -> OfferOutcome {
        let Arrival { tab_id, via, opener } = arrival;
        if !is_pairing_token(token) {
            return OfferOutcome::Refused(OfferRefusal::BadTokenShape);
        }
        self.prune(now);
        if let Some(o) = self.awaiting_mut().find(|o| o.pairing_token.as_deref() == Some(token)) {
            // A reopened connect popup resumes the same offer; close the newest tab later.
            if tab_id.is_some() {
                o.tab_id = tab_id;
            }
            return OfferOutcome::AlreadyParked { offer_id: o.offer_id.clone() };
        }
        if self.recent.len() >= MAX_OFFERS_PER_MINUTE {
            return OfferOutcome::Refused(OfferRefusal::RateLimited);
        }
        if self.pending_count() >= MAX_PARKED {
            return OfferOutcome::Refused(OfferRefusal::Busy);
        }
        let offer_id = new_id();
        self.recent.push(now);
        self.offers.push(ParkedOffer {
            offer_id: offer_id.clone(),
            pairing_token: Some(token.to_owned()),
            tab_id,
            state: OfferState::AwaitingApproval,
            created_at: now,
            expires_at: now + UNDESCRIBED_TTL_MS,
            decided_at: None,
            redeem_by: None,
            redeem_key: None,
            app_name: None,
            tenant_id: None,
            user_id: None,
            error: None,
            via,
            opener,
        });
        OfferOutcome::Parked { offer_id }
    }

    fn awaiting_mut(&mut self) -> impl Iterator<Item = &mut ParkedOffer> {
        self.offers.iter_mut().filter(|o| o.state == OfferState::AwaitingApproval)
    }

    pub fn get(&self, offer_id: &str) -> Option<&ParkedOffer> {
        self.offers.iter().find(|o| o.offer_id == offer_id)
    }

    fn get_mut(&mut self, offer_id: &str) -> Option<&mut ParkedOffer> {
        self.offers.iter_mut().find(|o| o.offer_id == offer_id)
    }

    /// Offers awaiting the user's decision (the badge count).
    pub fn pending_count(&self) -> usize {
        self.offers.iter().filter(|o| o.state == OfferState::AwaitingApproval).count()
    }

    /// Offers still awaiting approval whose token the relay has not described yet.
    pub fn undescribed(&self) -> Vec<(String, String)> {
        self.offers
            .iter()
            .filter(|o| o.state == OfferState::AwaitingApproval && o.app_name.is_none())
            .filter_map(|o| Some((o.offer_id.clone(), o.pairing_token.clone()?)))
            .collect()
    }

    /// Records the relay's description. `display_name` is the name after the
    /// extension's own consent-name check (tenant id when the relay's name failed it).
    pub fn described(&mut self, offer_id: &str, d: &DescribeResponse, display_name: String) {
        if let Some(o) = self.get_mut(offer_id).filter(|o| o.state == OfferState::AwaitingApproval) {
            o.app_name = Some(display_name);
            o.tenant_id = Some(d.tenant_id.clone());
            o.user_id = Some(d.user_id.clone());
            o.expires_at = o.expires_at.min(d.expires_at);
            o.opener = verified_opener(o.opener.as_deref(), &d.app_origins);
        }
    }

    /// Starts an approval by worker instance `worker`: returns what to redeem, or why it
    /// can't be redeemed. Only a described, unexpired, awaiting offer qualifies, and not
    /// while this worker is already redeeming it. The redeem key is made once (`new_key`)
    /// and reused by every later attempt.
    pub fn begin_approval(
        &mut self,
        offer_id: &str,
        now: EpochMs,
        worker: &str,
        new_key: impl FnOnce() -> String,
    ) -> Result<Redeem, CommandError> {
        self.prune(now);
        let o = self.get_mut(offer_id).ok_or(CommandError::UnknownOffer)?;
        if o.state != OfferState::AwaitingApproval {
            return Err(CommandError::AlreadyDecided);
        }
        if o.redeem_by.as_deref() == Some(worker) {
            return Err(CommandError::InProgress);
        }
        if o.app_name.is_none() {
            return Err(CommandError::NotDescribed);
        }
        let pairing_token = o.pairing_token.clone().ok_or(CommandError::UnknownOffer)?;
        o.redeem_by = Some(worker.to_owned());
        let redeem_key = o.redeem_key.get_or_insert_with(new_key).clone();
        Ok(Redeem { pairing_token, redeem_key, via: o.via })
    }

    /// A redeem attempt ended without a decision (network error): the user may retry, with
    /// the same redeem key.
    pub fn abort_approval(&mut self, offer_id: &str) {
        if let Some(o) = self.get_mut(offer_id) {
            o.redeem_by = None;
        }
    }

    /// Offers whose redeem was cut off by a stopped worker (marked by an instance other than
    /// `worker`): the user already approved them, so the new worker repeats the redeem.
    pub fn interrupted_redeems(&self, worker: &str) -> Vec<String> {
        self.offers
            .iter()
            .filter(|o| o.state == OfferState::AwaitingApproval)
            .filter(|o| o.redeem_by.as_deref().is_some_and(|by| by != worker))
            .map(|o| o.offer_id.clone())
            .collect()
    }

    /// Decides an offer; returns its connect tab (to close) when it was awaiting.
    pub fn decide(
        &mut self,
        offer_id: &str,
        state: OfferState,
        error: Option<&str>,
        now: EpochMs,
    ) -> Option<Option<i32>> {
        let o = self.get_mut(offer_id)?;
        if o.state != OfferState::AwaitingApproval {
            return None;
        }
        o.decide(state, error, now);
        Some(o.tab_id)
    }

    /// What `pairing.result` answers.
    pub fn result(&self, offer_id: &str) -> ResultReply {
        match self.get(offer_id) {
            Some(o) => ResultReply { state: o.state, app_name: o.app_name.clone(), error: o.error.clone() },
            None => ResultReply { state: OfferState::Failed, app_name: None, error: Some("unknown_offer".into()) },
        }
    }

    /// What the panel lists as pending approvals.
    pub fn pending_views(&self) -> Vec<PendingView> {
        self.offers
            .iter()
            .filter(|o| o.state == OfferState::AwaitingApproval)
            .map(|o| PendingView {
                offer_id: o.offer_id.clone(),
                app_name: o.app_name.clone(),
                tenant_id: o.tenant_id.clone(),
                user_id: o.user_id.clone(),
                expires_at: o.expires_at,
                shown_at: o.created_at,
                via: o.via,
                // Only a described offer's opener was checked against the relay's list.
                opener: o.app_name.as_ref().and(o.opener.clone()),
                code: None,
                app_origin: None,
            })
            .collect()
    }
}

impl ParkedOffer {
    fn decide(&mut self, state: OfferState, error: Option<&str>, now: EpochMs) {
        self.state = state;
        self.error = error.map(str::to_owned);
        self.decided_at = Some(now);
        self.pairing_token = None;
        self.redeem_by = None;
        self.redeem_key = None;
    }
}

#[cfg(test)]
mod tests;
