//! Building messages: responses to a request, new requests, and the CANCEL and ACK that
//! RFC 3261 derives from an INVITE.

use bytes::Bytes;

use super::headers::{CSeq, NameAddr, Via};
use super::{reason_phrase, Header, Message, Method, StartLine, BRANCH_COOKIE};

/// Tags, branches and Call-IDs for one engine, from a seed the owner picks (random in the
/// binary, fixed in tests, so runs repeat). A 64-bit splitmix sequence: unique within an
/// engine, unguessable enough across engines whose seeds are random.
#[derive(Debug, Clone)]
pub struct IdSource {
    /// The generator state.
    state: u64,
}

impl IdSource {
    /// A source starting from `seed`.
    pub fn new(seed: u64) -> IdSource {
        IdSource { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A new Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        format!("{BRANCH_COOKIE}{:016x}", self.next())
    }

    /// A new From or To tag.
    pub fn tag(&mut self) -> String {
        format!("{:012x}", self.next() >> 16)
    }

    /// A new Call-ID at `host`.
    pub fn call_id(&mut self, host: &str) -> String {
        format!("{:016x}{:08x}@{host}", self.next(), self.next() as u32)
    }
}

impl Message {
    /// A response to `request` (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq copied, the
    /// To tag added when the request's To has none (except on 100), Record-Route copied into
    /// 1xx/2xx (§12.1.1). Headers and a body are added by the caller.
    pub fn response_to(request: &Message, status: u16, to_tag: &str) -> Message {
        let to = if status > 100 {
            request.to.with_tag(to_tag)
        } else {
            request.to.clone()
        };
        let mut headers = Vec::new();
        if (101..300).contains(&status) {
            headers.extend(
                request
                    .headers
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case("Record-Route"))
                    .cloned(),
            );
        }
        Message {
            start: StartLine::Response {
                status,
                reason: reason_phrase(status).to_owned(),
            },
            via: request.via.clone(),
            from: request.from.clone(),
            to,
            call_id: request.call_id.clone(),
            cseq: request.cseq.clone(),
            headers,
            body: Bytes::new(),
        }
    }

    /// Sets the body and its Content-Type (replacing any before).
    pub fn set_body(&mut self, content_type: &str, body: Bytes) {
        self.remove_header("Content-Type");
        if !body.is_empty() {
            self.push_header("Content-Type", content_type);
        }
        self.body = body;
    }

    /// The CANCEL for a pending INVITE (RFC 3261 §9.1): same Request-URI, Call-ID, From, To,
    /// CSeq number, top Via (same branch) and Route.
    pub fn cancel_for(invite: &Message) -> Message {
        let mut cancel = Message {
            start: StartLine::Request {
                method: Method::Cancel,
                uri: invite.request_uri().unwrap_or_default().to_owned(),
            },
            via: invite.via.iter().take(1).cloned().collect(),
            from: invite.from.clone(),
            to: invite.to.clone(),
            call_id: invite.call_id.clone(),
            cseq: CSeq {
                seq: invite.cseq.seq,
                method: Method::Cancel,
            },
            headers: Vec::new(),
            body: Bytes::new(),
        };
        cancel.push_header("Max-Forwards", "70");
        for route in invite.header_values("Route") {
            cancel.push_header("Route", route);
        }
        cancel
    }

    /// The ACK for a non-2xx final response to `invite`, sent by the INVITE client
    /// transaction (RFC 3261 §17.1.1.3): same branch, the response's To (with its tag).
    pub fn ack_for_failure(invite: &Message, response: &Message) -> Message {
        let mut ack = Message::cancel_for(invite);
        ack.start = StartLine::Request {
            method: Method::Ack,
            uri: invite.request_uri().unwrap_or_default().to_owned(),
        };
        ack.cseq.method = Method::Ack;
        ack.to = response.to.clone();
        ack
    }
}

/// A new request; see [`RequestBuilder::new`].
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    /// The message being built.
    message: Message,
}

impl RequestBuilder {
    /// A request with its identifying headers; Max-Forwards is 70. Via is added with
    /// [`RequestBuilder::via`] (the transaction layer needs a fresh branch per request).
    pub fn new(
        method: Method,
        uri: &str,
        from: NameAddr,
        to: NameAddr,
        call_id: &str,
        seq: u32,
    ) -> RequestBuilder {
        let message = Message {
            start: StartLine::Request {
                method: method.clone(),
                uri: uri.to_owned(),
            },
            via: Vec::new(),
            from,
            to,
            call_id: call_id.to_owned(),
            cseq: CSeq { seq, method },
            headers: vec![Header {
                name: "Max-Forwards".into(),
                value: "70".into(),
            }],
            body: Bytes::new(),
        };
        RequestBuilder { message }
    }

    /// The Via of this hop, with `rport` asked for (RFC 3581).
    pub fn via(mut self, transport: &str, sent_by: &str, branch: &str) -> RequestBuilder {
        self.message.via = vec![Via::new(transport, sent_by, branch)];
        self
    }

    /// The Contact (our remote target for the peer).
    pub fn contact(self, uri: &str) -> RequestBuilder {
        self.header("Contact", &format!("<{uri}>"))
    }

    /// Route headers for a route set, in order.
    pub fn route(mut self, route: &[NameAddr]) -> RequestBuilder {
        for entry in route {
            self.message.push_header("Route", entry.to_string());
        }
        self
    }

    /// Any other header.
    pub fn header(mut self, name: &str, value: &str) -> RequestBuilder {
        self.message.push_header(name, value);
        self
    }

    /// A body with its Content-Type.
    pub fn body(mut self, content_type: &str, body: Bytes) -> RequestBuilder {
        self.message.set_body(content_type, body);
        self
    }

    /// The finished request.
    pub fn build(self) -> Message {
        self.message
    }
}
