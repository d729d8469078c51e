//! [`Dialog`]: the state RFC 3261 §12 keeps per dialog, and the in-dialog requests built from it.

use crate::message::{Message, Method, NameAddr, RequestBuilder};
use crate::transaction::Peer;

/// One dialog: identifiers, route set, remote target, CSeq counters (RFC 3261 §12.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// The Call-ID.
    pub call_id: String,
    /// Our From (as caller) or To (as callee), with our tag.
    pub local: NameAddr,
    /// The peer's address, with its tag once known (a caller learns it from the response).
    pub remote: NameAddr,
    /// The peer's Contact URI: the Request-URI of in-dialog requests.
    pub remote_target: String,
    /// Proxies to pass through, in the order requests visit them.
    pub route_set: Vec<NameAddr>,
    /// Our last CSeq number.
    pub local_seq: u32,
    /// The peer's last CSeq number, once it sent a request.
    pub remote_seq: Option<u32>,
    /// Where in-dialog requests go (the address the peer's messages come from).
    pub peer: Peer,
}

impl Dialog {
    /// The dialog a callee creates from an INVITE (§12.1.1): route set = Record-Route as is.
    pub(crate) fn callee(invite: &Message, local_tag: &str, source: Peer) -> Dialog {
        Dialog {
            call_id: invite.call_id.clone(),
            local: invite.to.with_tag(local_tag),
            remote: invite.from.clone(),
            remote_target: invite
                .contact()
                .map_or_else(|| invite.from.uri.clone(), |c| c.uri),
            route_set: invite.record_route(),
            local_seq: 0,
            remote_seq: Some(invite.cseq.seq),
            peer: source,
        }
    }

    /// The early state of a caller's dialog, before any response (§12.1.2 completes it).
    pub(crate) fn caller(invite: &Message, peer: Peer) -> Dialog {
        Dialog {
            call_id: invite.call_id.clone(),
            local: invite.from.clone(),
            remote: invite.to.clone(),
            remote_target: invite.request_uri().unwrap_or_default().to_owned(),
            route_set: Vec::new(),
            local_seq: invite.cseq.seq,
            remote_seq: None,
            peer,
        }
    }

    /// Completes a caller's dialog from a 2xx (or a tagged 1xx): the remote tag, the remote
    /// target from Contact, the route set from Record-Route reversed (§12.1.2).
    pub(crate) fn confirm(&mut self, response: &Message) {
        if response.to.tag.is_some() {
            self.remote = response.to.clone();
        }
        if let Some(contact) = response.contact() {
            self.remote_target = contact.uri;
        }
        let mut route = response.record_route();
        route.reverse();
        self.route_set = route;
    }

    /// Our tag.
    pub fn local_tag(&self) -> &str {
        self.local.tag.as_deref().unwrap_or("")
    }

    /// The peer's tag, once known.
    pub fn remote_tag(&self) -> Option<&str> {
        self.remote.tag.as_deref()
    }

    /// Accepts the CSeq of a request from the peer (§12.2.2): it must grow, except ACK and
    /// CANCEL, which repeat the INVITE's. `false` means answer 500.
    pub(crate) fn accept_remote_seq(&mut self, request: &Message) -> bool {
        let seq = request.cseq.seq;
        if matches!(request.method(), Some(Method::Ack | Method::Cancel)) {
            return true;
        }
        if self.remote_seq.is_some_and(|last| seq <= last) {
            return false;
        }
        self.remote_seq = Some(seq);
        // A re-INVITE refreshes the target (§12.2.2).
        if request.method() == Some(&Method::Invite) {
            if let Some(contact) = request.contact() {
                self.remote_target = contact.uri;
            }
        }
        true
    }

    /// A new in-dialog request (§12.2.1.1) with the next CSeq; ACK reuses `ack_seq`.
    pub(crate) fn request(
        &mut self,
        method: Method,
        branch: &str,
        local: &str,
        ack_seq: Option<u32>,
    ) -> RequestBuilder {
        let seq = match ack_seq {
            Some(seq) => seq,
            None => {
                self.local_seq += 1;
                self.local_seq
            }
        };
        let transport = self.peer.transport.via_token();
        RequestBuilder::new(
            method,
            &self.remote_target,
            self.local.clone(),
            self.remote.clone(),
            &self.call_id,
            seq,
        )
        .via(transport, local, branch)
        .route(&self.route_set)
    }

    /// Whether an in-dialog request belongs to this dialog (§12.2.2): the From tag is the
    /// peer's (when the peer's tag is known).
    pub(crate) fn matches_remote(&self, request: &Message) -> bool {
        match (self.remote_tag(), request.from.tag.as_deref()) {
            (Some(ours), Some(theirs)) => ours == theirs,
            (None, _) => true,
            (Some(_), None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    const INVITE: &str =
        "INVITE sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
        Record-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:p2.example.com;lr>\r\n\
        From: <sip:alice@a.example.com>;tag=a\r\nTo: <sip:bob@b.example.com>\r\nCall-ID: c\r\n\
        CSeq: 5 INVITE\r\nContact: <sip:alice@192.0.2.1:5070>\r\nContent-Length: 0\r\n\r\n";

    fn peer() -> Peer {
        Peer::udp("192.0.2.1:5060".parse().unwrap_or_else(|_| unreachable!()))
    }

    #[test]
    fn callee_and_caller_see_one_route_in_opposite_orders() {
        let invite = Message::parse(INVITE.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let mut callee = Dialog::callee(&invite, "b", peer());
        assert_eq!(callee.remote_target, "sip:alice@192.0.2.1:5070");
        assert_eq!(
            callee
                .route_set
                .iter()
                .map(|r| r.uri.as_str())
                .collect::<Vec<_>>(),
            ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
        );
        let bye = callee
            .request(Method::Bye, "z9hG4bKx", "192.0.2.4:5060", None)
            .build();
        assert_eq!(bye.request_uri(), Some("sip:alice@192.0.2.1:5070"));
        assert_eq!(
            (bye.from.tag.as_deref(), bye.to.tag.as_deref()),
            (Some("b"), Some("a"))
        );
        assert_eq!(bye.route().len(), 2);
        assert_eq!(bye.cseq.seq, 1);

        let mut caller = Dialog::caller(&invite, peer());
        let ok = Message::response_to(&invite, 200, "b");
        let mut ok = Message::parse(&ok.to_bytes()).unwrap_or_else(|e| panic!("{e}"));
        ok.push_header("Contact", "<sip:bob@192.0.2.4:5090>");
        caller.confirm(&ok);
        assert_eq!(caller.remote_tag(), Some("b"));
        assert_eq!(caller.remote_target, "sip:bob@192.0.2.4:5090");
        assert_eq!(
            caller.route_set[0].uri, "sip:p2.example.com;lr",
            "reversed for the caller"
        );
        assert_eq!(
            caller
                .request(Method::Bye, "z9hG4bKy", "h", None)
                .build()
                .cseq
                .seq,
            6
        );
    }

    #[test]
    fn remote_cseq_must_grow() {
        let invite = Message::parse(INVITE.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let mut dialog = Dialog::callee(&invite, "b", peer());
        let mut bye = invite.clone();
        bye.start = crate::message::StartLine::Request {
            method: Method::Bye,
            uri: "sip:b".into(),
        };
        bye.cseq.method = Method::Bye;
        assert!(!dialog.accept_remote_seq(&bye), "same number as the INVITE");
        bye.cseq.seq = 6;
        assert!(dialog.accept_remote_seq(&bye));
        assert!(dialog.matches_remote(&bye));
    }
}
