//! Digest authentication: the RFC examples as known answers, client against server, and the
//! ways credentials and headers go wrong.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use confab_sip::digest::{
    Algorithm, Authorization, Challenge, Challenger, DigestClient, DigestError, DigestRejection,
    DigestRequest, DigestServer, DigestServerConfig, Qop,
};

const GET: DigestRequest<'static> = DigestRequest {
    method: "GET",
    uri: "/dir/index.html",
    body: b"",
};

const INVITE: DigestRequest<'static> = DigestRequest {
    method: "INVITE",
    uri: "sip:conference@confab.example;transport=udp",
    body: b"v=0\r\n",
};

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

#[test]
fn rfc_2617_section_3_5_example() {
    let challenge = Challenge::choose([concat!(
        r#"Digest realm="testrealm@host.com", qop="auth,auth-int", "#,
        r#"nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", "#,
        r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#
    )])
    .unwrap();
    assert_eq!(
        challenge.algorithm,
        Algorithm::Md5,
        "no algorithm means MD5"
    );
    let mut client = DigestClient::new("Mufasa", "Circle Of Life");
    let auth = client.authorize(&challenge, &GET, "0a4f113b").unwrap();
    assert_eq!(auth.response, "6629fae49393a05397450978507c4ef1");
    assert_eq!(auth.qop, Some(Qop::Auth));
    assert_eq!(auth.nc, Some(1));
    assert_eq!(
        auth.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
    // The RFC's own Authorization header parses to the same credentials.
    let rfc = Authorization::parse(concat!(
        r#"Digest username="Mufasa", realm="testrealm@host.com", "#,
        r#"nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", "#,
        "qop=auth, nc=00000001, cnonce=\"0a4f113b\", ",
        r#"response="6629fae49393a05397450978507c4ef1", "#,
        r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#
    ))
    .unwrap();
    assert_eq!(rfc, auth);
}

#[test]
fn rfc_7616_section_3_9_1_examples() {
    let opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
    let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    let header = |alg: &str| {
        format!(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, nonce="{nonce}", opaque="{opaque}""#
        )
    };
    let (sha, md5) = (header("SHA-256"), header("MD5"));
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    // Offered both, the client takes SHA-256, whichever comes first.
    for values in [[&md5, &sha], [&sha, &md5]] {
        let challenge = Challenge::choose(values.map(String::as_str)).unwrap();
        assert_eq!(challenge.algorithm, Algorithm::Sha256);
        let mut client = DigestClient::new("Mufasa", "Circle of Life");
        let auth = client.authorize(&challenge, &GET, cnonce).unwrap();
        assert_eq!(
            auth.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert!(auth.to_string().contains("algorithm=SHA-256"));
    }
    let challenge = Challenge::choose([md5.as_str()]).unwrap();
    let mut client = DigestClient::new("Mufasa", "Circle of Life");
    let auth = client.authorize(&challenge, &GET, cnonce).unwrap();
    assert_eq!(auth.response, "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn the_nonce_count_is_kept_per_nonce() {
    let value = |nonce: &str| format!(r#"Digest realm="r", nonce="{nonce}", qop="auth""#);
    let (a, b) = (
        Challenge::choose([value("a").as_str()]).unwrap(),
        Challenge::choose([value("b").as_str()]).unwrap(),
    );
    let mut client = DigestClient::new("alice", "pw");
    let mut nc = |c: &Challenge| client.authorize(c, &INVITE, "c").unwrap().nc;
    assert_eq!(nc(&a), Some(1));
    assert_eq!(nc(&a), Some(2));
    assert_eq!(nc(&b), Some(1));
    assert_eq!(nc(&a), Some(3));
}

fn server() -> DigestServer {
    DigestServer::new(DigestServerConfig::new(
        "confab.example",
        b"node secret".to_vec(),
    ))
}

/// The client's answer to the server's preferred (or only MD5) challenge at `now`.
fn answer(server: &DigestServer, now: SystemTime, password: &str, md5: bool) -> Authorization {
    let challenges = server.challenge(now, false);
    let values: Vec<String> = challenges.iter().map(ToString::to_string).collect();
    let chosen = if md5 {
        // A phone that knows only MD5 skips the SHA-256 challenge.
        Challenge::choose(
            values
                .iter()
                .map(String::as_str)
                .filter(|v| v.contains("MD5")),
        )
    } else {
        Challenge::choose(values.iter().map(String::as_str))
    }
    .unwrap();
    let mut client = DigestClient::new("1001", password);
    client.authorize(&chosen, &INVITE, "deadbeef").unwrap()
}

#[test]
fn client_and_server_agree_with_either_algorithm() {
    for md5 in [false, true] {
        let mut server = server();
        let auth = answer(&server, at(1_000), "pw", md5);
        let header = auth.to_string();
        let parsed = Authorization::parse(&header).unwrap();
        assert_eq!(parsed, auth);
        assert_eq!(
            parsed.algorithm,
            if md5 {
                Algorithm::Md5
            } else {
                Algorithm::Sha256
            }
        );
        assert_eq!(server.verify(at(1_010), &parsed, &INVITE, "pw"), Ok(()));
    }
}

#[test]
fn a_wrong_password_is_refused() {
    let mut server = server();
    let auth = answer(&server, at(1_000), "guess", false);
    assert_eq!(
        server.verify(at(1_000), &auth, &INVITE, "pw"),
        Err(DigestRejection::WrongResponse)
    );
}

#[test]
fn an_old_nonce_is_stale_only_when_the_password_is_right() {
    let mut server = server();
    let good = answer(&server, at(1_000), "pw", false);
    let bad = answer(&server, at(1_000), "guess", false);
    let later = at(1_000 + 301);
    assert_eq!(
        server.verify(later, &bad, &INVITE, "pw"),
        Err(DigestRejection::WrongResponse)
    );
    let stale = server.verify(later, &good, &INVITE, "pw").unwrap_err();
    assert_eq!(stale, DigestRejection::StaleNonce);
    assert!(stale.is_stale());
    let retry = server.challenge(later, stale.is_stale());
    assert!(retry[0].to_string().contains("stale=true"));
    let parsed = Challenge::choose([retry[0].to_string().as_str()]).unwrap();
    assert!(parsed.stale);
}

#[test]
fn a_replayed_count_is_refused_and_the_next_count_accepted() {
    let mut server = server();
    let challenge = server.challenge(at(1_000), false).remove(0);
    let mut client = DigestClient::new("1001", "pw");
    let first = client.authorize(&challenge, &INVITE, "c1").unwrap();
    assert_eq!(server.verify(at(1_001), &first, &INVITE, "pw"), Ok(()));
    assert_eq!(
        server.verify(at(1_002), &first, &INVITE, "pw"),
        Err(DigestRejection::Replayed)
    );
    let second = client.authorize(&challenge, &INVITE, "c2").unwrap();
    assert_eq!(second.nc, Some(2));
    assert_eq!(server.verify(at(1_003), &second, &INVITE, "pw"), Ok(()));
}

#[test]
fn nonces_the_server_did_not_issue_are_unknown() {
    let mut other = DigestServer::new(DigestServerConfig::new("confab.example", b"other".to_vec()));
    let mut server = server();
    let forged = answer(&other, at(1_000), "pw", false);
    assert_eq!(
        server.verify(at(1_000), &forged, &INVITE, "pw"),
        Err(DigestRejection::UnknownNonce)
    );
    assert_eq!(other.verify(at(1_000), &forged, &INVITE, "pw"), Ok(()));
}

#[test]
fn a_nonce_given_by_the_caller_is_remembered_and_bounded() {
    let mut config = DigestServerConfig::new("confab.example", b"s".to_vec());
    config.max_nonces = 4;
    let mut server = DigestServer::new(config);
    let challenge = server
        .challenge_with_nonce(at(50), "f00dcafe", false)
        .remove(0);
    assert_eq!(challenge.nonce, "f00dcafe");
    let mut client = DigestClient::new("1001", "pw");
    let auth = client.authorize(&challenge, &INVITE, "c").unwrap();
    assert_eq!(server.verify(at(60), &auth, &INVITE, "pw"), Ok(()));
    for n in 0..10 {
        let _ = server.challenge_with_nonce(at(100 + n), &format!("n{n}"), false);
    }
    assert!(server.remembered_nonces() <= 4);
    let mut client = DigestClient::new("1001", "pw");
    let evicted = client.authorize(&challenge, &INVITE, "c").unwrap();
    assert_eq!(
        server.verify(at(120), &evicted, &INVITE, "pw"),
        Err(DigestRejection::UnknownNonce)
    );
}

#[test]
fn credentials_that_do_not_match_the_request_are_refused() {
    let mut server = server();
    let auth = answer(&server, at(1_000), "pw", false);
    let other_uri = DigestRequest {
        uri: "sip:conference@confab.example",
        ..INVITE
    };
    assert_eq!(
        server.verify(at(1_000), &auth, &other_uri, "pw"),
        Err(DigestRejection::UriMismatch)
    );
    let mut wrong_realm = auth.clone();
    wrong_realm.realm = "elsewhere".to_owned();
    assert_eq!(
        server.verify(at(1_000), &wrong_realm, &INVITE, "pw"),
        Err(DigestRejection::WrongRealm)
    );
    let mut sess = auth.clone();
    sess.algorithm = Algorithm::Md5Sess;
    assert_eq!(
        server.verify(at(1_000), &sess, &INVITE, "pw"),
        Err(DigestRejection::AlgorithmNotOffered)
    );
    // An RFC 2069 answer (no qop) has no replay protection.
    let plain = server.challenge(at(1_000), false).remove(0);
    let plain = Challenge {
        qop: Vec::new(),
        ..plain
    };
    let rfc2069 = DigestClient::new("1001", "pw")
        .authorize(&plain, &INVITE, "c")
        .unwrap();
    assert_eq!(rfc2069.cnonce, None);
    assert_eq!(
        server.verify(at(1_000), &rfc2069, &INVITE, "pw"),
        Err(DigestRejection::QopMissing)
    );
}

#[test]
fn auth_int_covers_the_body_and_hex_case_does_not_matter() {
    let mut server = server();
    let challenge = server.challenge(at(1_000), false).remove(0);
    let challenge = Challenge {
        qop: vec![Qop::AuthInt],
        ..challenge
    };
    let mut client = DigestClient::new("1001", "pw");
    let mut auth = client.authorize(&challenge, &INVITE, "c").unwrap();
    assert_eq!(auth.qop, Some(Qop::AuthInt));
    let other_body = DigestRequest {
        body: b"v=1\r\n",
        ..INVITE
    };
    assert_eq!(
        server.verify(at(1_000), &auth, &other_body, "pw"),
        Err(DigestRejection::WrongResponse)
    );
    auth.response = auth.response.to_ascii_uppercase();
    assert_eq!(server.verify(at(1_000), &auth, &INVITE, "pw"), Ok(()));
}

#[test]
fn sess_algorithms_round_trip() {
    for algorithm in [
        Algorithm::Md5Sess,
        Algorithm::Sha256Sess,
        Algorithm::Sha512_256,
    ] {
        let mut config = DigestServerConfig::new("r", b"k".to_vec());
        config.algorithms = vec![algorithm];
        let mut server = DigestServer::new(config);
        let challenge = server.challenge(at(5), false).remove(0);
        let auth = DigestClient::new("u", "p")
            .authorize(&challenge, &INVITE, "c")
            .unwrap();
        assert_eq!(auth.algorithm, algorithm);
        assert_eq!(
            server.verify(at(5), &auth, &INVITE, "p"),
            Ok(()),
            "{algorithm:?}"
        );
    }
}

#[test]
fn malformed_headers_are_refused_cleanly() {
    let long = format!(r#"Digest realm="{}", nonce="n""#, "x".repeat(5000));
    let challenges: &[(&str, DigestError)] = &[
        ("", DigestError::NotDigest),
        (r#"Basic realm="x""#, DigestError::NotDigest),
        (
            r#"Digest realm="x, nonce=n"#,
            DigestError::Malformed("unterminated quoted string"),
        ),
        (
            r#"Digest realm="x""#,
            DigestError::MissingParameter("nonce"),
        ),
        (
            r#"Digest realm="x", realm="y", nonce="n""#,
            DigestError::DuplicateParameter("realm".to_owned()),
        ),
        (
            r#"Digest realm="x", nonce="n", algorithm=SHA-1"#,
            DigestError::UnsupportedAlgorithm("SHA-1".to_owned()),
        ),
        (
            r#"Digest realm="x", nonce="n", qop="auth-conf""#,
            DigestError::UnsupportedQop,
        ),
        (
            r#"realm="x", Digest nonce="n""#,
            DigestError::Malformed("parameter before the scheme"),
        ),
        (
            r#"Digest realm="x" nonce="n""#,
            DigestError::Malformed("expected a comma"),
        ),
        (
            "Digest realm=\"a\r\nX-Injected: 1\", nonce=\"n\"",
            DigestError::Malformed("control character"),
        ),
        (
            r#"Digest realm="x", nonce="n\"#,
            DigestError::Malformed("bad escape"),
        ),
        (
            r#"Digest realm="x", @=1"#,
            DigestError::Malformed("expected a token"),
        ),
        (&long, DigestError::TooLong),
    ];
    for (value, error) in challenges {
        assert_eq!(
            &Challenge::parse_all(value).unwrap_err(),
            error,
            "{value:?}"
        );
    }
    let credentials: &[(&str, DigestError)] = &[
        (
            r#"Digest username="u", realm="r", nonce="n", uri="s", response="x", qop=auth"#,
            DigestError::MissingParameter("cnonce and nc"),
        ),
        (
            r#"Digest username="u", realm="r", nonce="n", uri="s", response="x", qop=auth, nc=xyz, cnonce="c""#,
            DigestError::Malformed("nc"),
        ),
        (
            r#"Digest username="u", realm="r", nonce="n", uri="s""#,
            DigestError::MissingParameter("response"),
        ),
        (r#"Basic dXNlcjpwYXNz"#, DigestError::NotDigest),
    ];
    for (value, error) in credentials {
        assert_eq!(
            &Authorization::parse(value).unwrap_err(),
            error,
            "{value:?}"
        );
    }
    // A bad value among good ones is skipped when choosing.
    let good = r#"Digest realm="x", nonce="n""#;
    assert!(Challenge::choose([r#"Digest realm="#, good]).is_ok());
}

#[test]
fn the_client_refuses_values_that_would_break_the_header() {
    let challenge = Challenge::choose([r#"Digest realm="x", nonce="n", qop="auth""#]).unwrap();
    let mut client = DigestClient::new("alice\r\nVia: evil", "pw");
    assert_eq!(
        client.authorize(&challenge, &INVITE, "c"),
        Err(DigestError::InvalidValue("username"))
    );
}

#[test]
fn challengers_name_their_headers() {
    assert_eq!(Challenger::from_status(401), Some(Challenger::UserAgent));
    assert_eq!(Challenger::from_status(407), Some(Challenger::Proxy));
    assert_eq!(Challenger::from_status(403), None);
    assert_eq!(Challenger::UserAgent.challenge_header(), "WWW-Authenticate");
    assert_eq!(Challenger::Proxy.challenge_header(), "Proxy-Authenticate");
    assert_eq!(Challenger::UserAgent.credentials_header(), "Authorization");
    assert_eq!(Challenger::Proxy.status(), 407);
}
