//! [`SipServer`]: `confab serve` with SIP on a free port, and the API calls the SIP tests make
//! of it.

use std::time::Duration;

use serde_json::Value;

use super::free_port;
use crate::common::{eventually, Api, Server};

/// A server with SIP on a free port.
pub(crate) struct SipServer {
    /// The confab process.
    pub(crate) server: Server,
    /// Its SIP port (UDP and TCP).
    pub(crate) sip_port: u16,
    _dir: tempfile::TempDir,
}

impl SipServer {
    /// `media_threads: Some(1)` keeps every call on one media thread, so confab never moves a
    /// call's RTP with a re-INVITE (SIPp scenarios have no room for one).
    pub(crate) async fn start(media_threads: Option<usize>) -> SipServer {
        SipServer::start_with(media_threads, &[]).await
    }

    /// [`SipServer::start`] with more `confab serve` arguments (`--sip-trunk`, ...).
    pub(crate) async fn start_with(media_threads: Option<usize>, extra: &[String]) -> SipServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sip_port = 0;
        let server = Server::launch(dir.path(), |cmd, addr| {
            sip_port = free_port();
            cmd.arg("serve")
                .arg("--data-dir")
                .arg(dir.path())
                .arg("--listen")
                .arg(addr.to_string())
                .arg("--sip-listen")
                .arg(format!("127.0.0.1:{sip_port}"));
            if let Some(n) = media_threads {
                cmd.arg("--media-threads").arg(n.to_string());
            }
            cmd.args(extra);
        })
        .await;
        SipServer {
            server,
            sip_port,
            _dir: dir,
        }
    }

    /// The API with the server's account.
    pub(crate) fn api(&self) -> Api {
        self.server.api()
    }

    /// Configures `number` to fetch TwiML from `url`.
    pub(crate) async fn number(&self, number: &str, url: &str) {
        let api = self.api();
        let path = api.twilio("IncomingPhoneNumbers.json");
        api.post_form(&path, &[("PhoneNumber", number), ("VoiceUrl", url)])
            .await
            .expect_status(201);
    }

    /// Every call of the account.
    pub(crate) async fn calls(&self) -> Vec<Value> {
        let api = self.api();
        let body = api.get(&api.twilio("Calls.json")).await.expect_status(200);
        body["calls"].as_array().cloned().unwrap_or_default()
    }

    /// Call `sid` as the API shows it.
    pub(crate) async fn call(&self, sid: &str) -> Value {
        let api = self.api();
        api.get(&api.twilio(&format!("Calls/{sid}.json")))
            .await
            .expect_status(200)
    }

    /// Waits until call `sid` has `status`.
    pub(crate) async fn wait_call(&self, sid: &str, status: &str) -> Value {
        let what = format!("call {sid} to be {status}");
        eventually(&what, Duration::from_secs(30), || async {
            let call = self.call(sid).await;
            (call["status"] == status).then_some(call)
        })
        .await
    }

    /// Adds a participant to `room` and returns its call SID.
    pub(crate) async fn participant(&self, room: &str, to: &str, extra: &[(&str, &str)]) -> String {
        let api = self.api();
        let path = api.twilio(&format!("Conferences/{room}/Participants.json"));
        let mut form = vec![("From", "+15550100001"), ("To", to)];
        form.extend_from_slice(extra);
        let body = api.post_form(&path, &form).await.expect_status(201);
        body["call_sid"].as_str().expect("call_sid").to_owned()
    }

    /// The conference SID of the live room `name`, once it exists.
    pub(crate) async fn conference(&self, name: &str) -> String {
        let api = self.api();
        let path = api.twilio(&format!("Conferences.json?FriendlyName={name}"));
        eventually(
            &format!("conference {name}"),
            Duration::from_secs(20),
            || async {
                let body = api.get(&path).await.expect_status(200);
                body["conferences"][0]["sid"].as_str().map(str::to_owned)
            },
        )
        .await
    }

    /// The call SIDs of the participants of conference `sid`.
    pub(crate) async fn members(&self, sid: &str) -> Vec<String> {
        let api = self.api();
        let path = api.twilio(&format!("Conferences/{sid}/Participants.json"));
        let body = api.get(&path).await.expect_status(200);
        body["participants"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p["call_sid"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What call `call` heard (confab's test-only Heard resource).
    pub(crate) async fn heard(&self, call: &str) -> Value {
        let api = self.api();
        let path = format!(
            "/confab/v1/Accounts/{}/Calls/{call}/Heard.json",
            self.server.account.sid
        );
        api.get(&path).await.expect_status(200)
    }
}
