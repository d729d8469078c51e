//! What every request handler shares: the store, the account cache and the
//! registry of live conferences.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use confab_core::call_request::CreateCall;
use confab_core::request::{CreateParticipant, SipAuth};
use confab_core::{
    Account, AccountSid, ApiError, Call, CallSid, ConferenceSid, Participant, SidStyle,
};
use confab_store::{Store, StoreError, Write};

use crate::audio::AudioService;
use crate::call::{CallRegistry, Calls, Program};
use crate::clock;
use crate::conference::{Command, Conferences, Handle};
use crate::media::{Media, MediaConfig};
use crate::webhook::{Outbox, OutboxConfig};

/// Shared server state.
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Accounts seen so far. Accounts are only ever added (also by
    /// `confab accounts create` in another process), so a miss goes to the
    /// store and a hit never goes stale.
    accounts: RwLock<HashMap<AccountSid, Account>>,
    /// Live conferences.
    pub conferences: Arc<Conferences>,
    /// Live calls.
    pub calls: Arc<Calls>,
    /// Media threads and simulated callers.
    pub media: Arc<Media>,
    /// Where actors release status callbacks once their write is durable.
    pub outbox: Outbox,
}

impl AppState {
    /// State over a store, with a default media runtime on loopback.
    ///
    /// # Panics
    ///
    /// If the media runtime cannot bind its loopback UDP sockets or start its threads; use
    /// [`AppState::with_media`] to handle that.
    pub fn new(store: Arc<dyn Store>) -> Arc<AppState> {
        let media = Media::start(&MediaConfig::default())
            .expect("a loopback UDP socket and a thread are available for the media runtime");
        Self::with_media(store, Arc::new(media))
    }

    /// State over a store and a running media runtime.
    pub fn with_media(store: Arc<dyn Store>, media: Arc<Media>) -> Arc<AppState> {
        let registry = Arc::new(CallRegistry::default());
        let audio = AudioService::new();
        let outbox = Outbox::start(store.clone(), OutboxConfig::default());
        let conferences = Conferences::new(
            store.clone(),
            media.clone(),
            registry.clone(),
            audio.clone(),
            outbox.clone(),
        );
        let calls = Calls::new(
            store.clone(),
            media.clone(),
            conferences.clone(),
            registry,
            audio,
            outbox.clone(),
        );
        Arc::new(AppState {
            outbox,
            store,
            accounts: RwLock::default(),
            conferences,
            calls,
            media,
        })
    }

    /// Maps a storage failure to the API's 500.
    pub fn store_error(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store failure");
        ApiError::internal("A storage error occurred")
    }

    /// The account with this SID.
    pub async fn account(&self, sid: &AccountSid) -> Result<Option<Account>, ApiError> {
        if let Some(account) = self
            .accounts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(sid)
        {
            return Ok(Some(account.clone()));
        }
        let Some(account) = self.store.account(sid).await.map_err(Self::store_error)? else {
            return Ok(None);
        };
        let mut cache = self
            .accounts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.insert(sid.clone(), account.clone());
        Ok(Some(account))
    }

    /// The live conference `sid` of `account`.
    pub fn live_conference(&self, account: &AccountSid, sid: &ConferenceSid) -> Option<Handle> {
        self.conferences.live(sid).filter(|h| h.belongs_to(account))
    }

    /// Create Participant: `segment` is a conference SID (which must be
    /// live) or a room name (whose live conference is joined, or opened).
    pub async fn add_participant(
        &self,
        account: &Account,
        segment: &str,
        create: CreateParticipant,
    ) -> Result<Participant, ApiError> {
        let not_active = || {
            ApiError::conference_rule(
                confab_core::error::codes::CONFERENCE_NOT_ACTIVE,
                format!("Conference {segment} does not exist or is completed"),
            )
        };
        let endpoint = create.endpoint.clone();
        let auth = create.sip_auth.clone();
        if let Some(sid) = ConferenceSid::parse(segment) {
            let handle = self
                .live_conference(&account.sid, &sid)
                .ok_or_else(not_active)?;
            let answer = handle
                .ask(|reply| Command::Add(Box::new(create), reply))
                .await
                .map_err(|_| not_active())?;
            return answer
                .map(|(p, call)| self.place_member(account, &handle, call, (endpoint, auth), p));
        }
        if segment.trim().is_empty() || segment.chars().count() > 128 {
            return Err(ApiError::invalid(
                20422,
                "A conference FriendlyName must be 1 to 128 characters",
            ));
        }
        // The conference found by name may complete before our request
        // reaches it; then the name is free and the next try opens a new one.
        for _ in 0..3 {
            let handle = self.conferences.open(account, segment, &create);
            let request = Box::new(create.clone());
            if let Ok(answer) = handle.ask(|reply| Command::Add(request, reply)).await {
                return answer.map(|(p, call)| {
                    let target = (endpoint.clone(), auth.clone());
                    self.place_member(account, &handle, call, target, p)
                });
            }
        }
        Err(ApiError::internal(
            "The conference kept ending while the participant was being added",
        ))
    }
}

impl AppState {
    /// Starts the call of a participant just created (and stored).
    fn place_member(
        &self,
        account: &Account,
        conference: &Handle,
        call: Call,
        (endpoint, sip_auth): (confab_core::endpoint::Endpoint, Option<SipAuth>),
        participant: Participant,
    ) -> Participant {
        let program = Program::Member(conference.clone());
        self.calls
            .start(account.clone(), call, endpoint, program, None, sip_auth);
        participant
    }

    /// Create Call: the call is stored (queued), then its actor places it.
    pub async fn create_call(
        &self,
        account: &Account,
        create: CreateCall,
    ) -> Result<Call, ApiError> {
        let now = clock::now();
        let sid = CallSid::mint(account.style, rand::random());
        let mut call = Call::outbound_api(sid, account.sid.clone(), &create.from, &create.to, now);
        call.timeout_secs = create.timeout_secs;
        call.time_limit_secs = create.time_limit_secs;
        call.status_callback = create.status_callback.clone();
        call.status_callback_method = create.status_callback_method;
        call.status_callback_events = create.status_callback_events.clone();
        if let Some((url, method)) = &create.fallback {
            call.fallback_url = Some(url.clone());
            call.fallback_method = *method;
        }
        self.store
            .write(vec![Write::Call(call.clone())])
            .await
            .map_err(Self::store_error)?;
        let program = Program::Twiml(create.instructions);
        self.calls.start(
            account.clone(),
            call.clone(),
            create.endpoint,
            program,
            create.send_digits,
            create.sip_auth,
        );
        Ok(call)
    }
}

/// Creates an account with fresh credentials and stores it.
pub async fn create_account(
    store: &dyn Store,
    style: SidStyle,
    friendly_name: &str,
) -> Result<Account, StoreError> {
    let account = Account {
        sid: AccountSid::mint(style, rand::random()),
        auth_token: format!("{:032x}", rand::random::<u128>()),
        style,
        friendly_name: friendly_name.to_owned(),
        date_created: clock::now(),
    };
    store.write(vec![Write::Account(account.clone())]).await?;
    Ok(account)
}
