//! Properties of the digest header parsers: printed values parse back to themselves, hostile
//! text never panics, and whatever parses prints to something that parses the same again.

use confab_sip::digest::{Algorithm, Authorization, Challenge, Qop};
use proptest::prelude::*;

/// Any text without control characters, quotes and backslashes included.
const TEXT: &str = "[^\\p{Cc}]{0,24}";

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Md5),
        Just(Algorithm::Md5Sess),
        Just(Algorithm::Sha256),
        Just(Algorithm::Sha256Sess),
        Just(Algorithm::Sha512_256),
        Just(Algorithm::Sha512_256Sess),
    ]
}

fn qop() -> impl Strategy<Value = Qop> {
    prop_oneof![Just(Qop::Auth), Just(Qop::AuthInt)]
}

fn challenge() -> impl Strategy<Value = Challenge> {
    (
        (
            TEXT,
            TEXT,
            proptest::option::of(TEXT),
            proptest::option::of(TEXT),
        ),
        algorithm(),
        proptest::collection::vec(qop(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |((realm, nonce, opaque, domain), algorithm, qop, stale)| Challenge {
                realm,
                nonce,
                opaque,
                algorithm,
                qop,
                stale,
                domain,
            },
        )
}

fn authorization() -> impl Strategy<Value = Authorization> {
    (
        (TEXT, TEXT, TEXT, TEXT, "[0-9a-f]{32}"),
        algorithm(),
        proptest::option::of(TEXT),
        proptest::option::of((qop(), TEXT, any::<u32>())),
    )
        .prop_map(
            |((username, realm, nonce, uri, response), algorithm, opaque, qop)| Authorization {
                username,
                realm,
                nonce,
                uri,
                response,
                algorithm,
                cnonce: qop.as_ref().map(|(_, c, _)| c.clone()),
                opaque,
                qop: qop.as_ref().map(|(q, _, _)| *q),
                nc: qop.map(|(_, _, nc)| nc),
            },
        )
}

/// Text made of digest's own vocabulary, so the parser gets past the scheme.
fn digest_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("Digest ".to_owned()),
        Just("Basic ".to_owned()),
        Just(", ".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("=".to_owned()),
        "(realm|nonce|qop|nc|cnonce|uri|response|algorithm|stale|opaque|username)=",
        "\"[ -~]{0,10}\"",
        "[a-zA-Z0-9-]{1,8}",
        "[ -~\r\n\t]{0,4}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|p| p.concat())
}

fn check_hostile(text: &str) -> Result<(), TestCaseError> {
    if let Ok(challenges) = Challenge::parse_all(text) {
        for c in challenges {
            prop_assert_eq!(Challenge::parse_all(&c.to_string()), Ok(vec![c]));
        }
    }
    if let Ok(auth) = Authorization::parse(text) {
        prop_assert_eq!(Authorization::parse(&auth.to_string()), Ok(auth));
    }
    let _ = Challenge::choose([text, text]);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn challenges_round_trip(c in challenge()) {
        prop_assert_eq!(Challenge::parse_all(&c.to_string()), Ok(vec![c]));
    }

    #[test]
    fn credentials_round_trip(a in authorization()) {
        prop_assert_eq!(Authorization::parse(&a.to_string()), Ok(a));
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}") {
        check_hostile(&text)?;
    }

    #[test]
    fn digest_shaped_text_never_panics(text in digest_soup()) {
        check_hostile(&text)?;
    }
}
