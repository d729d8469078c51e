//! One account's view of an in-process server, for the end-to-end tests of calls,
//! conferences and their audio: requests under the account's 2010-04-01 prefix with its
//! credentials, and the waits those tests share (a participant connected, a live conference by
//! name, what a simulated caller heard).

use std::time::Duration;

use axum::http::StatusCode;
use confab_core::{Account, SidStyle};
use serde_json::Value;

use super::in_process::{InProcess, Reply};

/// An in-process server with one Twilio-style account.
pub(crate) struct Client {
    pub(crate) app: InProcess,
    pub(crate) account: Account,
}

impl Client {
    /// A fresh server (its own database) with one account called `name`.
    pub(crate) async fn new(name: &str) -> Client {
        let (app, mut accounts) = InProcess::start(&[(SidStyle::Twilio, name)]).await;
        Client {
            app,
            account: accounts.pop().expect("an account"),
        }
    }

    /// `rest` under the account's `/2010-04-01/Accounts/{sid}/`.
    pub(crate) fn path(&self, rest: &str) -> String {
        format!("/2010-04-01/Accounts/{}/{rest}", self.account.sid)
    }

    /// A form POST; the reply whatever its status.
    pub(crate) async fn post(&self, rest: &str, form: &[(&str, &str)]) -> Reply {
        self.app
            .send_form("POST", &self.path(rest), &self.account, form)
            .await
    }

    /// A request that must succeed (2xx); its JSON.
    pub(crate) async fn send(&self, method: &str, rest: &str, form: &[(&str, &str)]) -> Value {
        let reply = self
            .app
            .send_form(method, &self.path(rest), &self.account, form)
            .await;
        assert!(reply.status.is_success(), "{method} {rest}: {}", reply.json);
        reply.json
    }

    /// A GET that must answer 200; its JSON.
    pub(crate) async fn get(&self, rest: &str) -> Value {
        let reply = self
            .app
            .send_form("GET", &self.path(rest), &self.account, &[])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{rest}: {}", reply.json);
        reply.json
    }

    /// Participants create into `room` with `form`, waiting until the participant is
    /// connected; its call SID and its conference's SID.
    pub(crate) async fn join(&self, room: &str, form: &[(&str, &str)]) -> (String, String) {
        let reply = self
            .post(&format!("Conferences/{room}/Participants.json"), form)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        let sid = reply.json["call_sid"].as_str().expect("sid").to_owned();
        let cf = reply.json["conference_sid"]
            .as_str()
            .expect("cf")
            .to_owned();
        for _ in 0..300 {
            let p = self
                .get(&format!("Conferences/{cf}/Participants/{sid}.json"))
                .await;
            if p["status"] == "connected" {
                return (sid, cf);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{sid} never connected");
    }

    /// The SID of the live (not completed) conference named `room`.
    pub(crate) async fn live_conference(&self, room: &str) -> String {
        let list = self
            .get(&format!("Conferences.json?FriendlyName={room}"))
            .await;
        list["conferences"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["status"] != "completed")
            .and_then(|c| c["sid"].as_str())
            .expect("a live conference")
            .to_owned()
    }

    /// `Heard.json` of a simulated call.
    pub(crate) async fn heard(&self, call: &str) -> Value {
        let path = format!(
            "/confab/v1/Accounts/{}/Calls/{call}/Heard.json",
            self.account.sid
        );
        let reply = self.app.send_form("GET", &path, &self.account, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        reply.json
    }
}
