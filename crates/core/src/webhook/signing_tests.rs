use super::*;
use rand::SeedableRng;

const A_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const A_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const A_TS: i64 = 1_614_265_330;
const A_BODY: &[u8] = br#"{"test": 2432232314}"#;
const A_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const A_WRONG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=";

const B_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const B_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const B_TS: i64 = 1_649_367_553;
const B_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const B_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

const DECOYS: [&str; 6] = [
    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
    "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
    "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ=",
    "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q=",
    "v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=",
    "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=",
];

fn secret(s: &str) -> WebhookSecret {
    WebhookSecret::parse(s).unwrap()
}

#[test]
fn signing_matches_vectors_a_and_b() {
    assert_eq!(sign_v1(&secret(A_SECRET), A_ID, A_TS, A_BODY), A_SIG);
    assert_eq!(sign_v1(&secret(B_SECRET), B_ID, B_TS, B_BODY), B_SIG);
}

#[test]
fn vectors_verify_at_their_own_time_and_the_altered_signature_does_not() {
    let a = secret(A_SECRET);
    assert_eq!(verify(&a, A_ID, "1614265330", A_SIG, A_BODY, A_TS), Ok(()));
    assert_eq!(
        verify(&a, A_ID, "1614265330", A_WRONG, A_BODY, A_TS),
        Err(VerifyError::NoMatch)
    );
    let b = secret(B_SECRET);
    assert_eq!(verify(&b, B_ID, "1649367553", B_SIG, B_BODY, B_TS), Ok(()));
}

#[test]
fn verify_rejects_the_vectors_fixed_timestamps_today() {
    let now = 1_780_000_000; // 2026
    assert!(matches!(
        verify(&secret(A_SECRET), A_ID, "1614265330", A_SIG, A_BODY, now),
        Err(VerifyError::TooOld { .. })
    ));
    assert!(matches!(
        verify(&secret(B_SECRET), B_ID, "1649367553", B_SIG, B_BODY, now),
        Err(VerifyError::TooOld { .. })
    ));
}

#[test]
fn tolerance_is_five_minutes_either_way() {
    let a = secret(A_SECRET);
    let ts = "1614265330";
    assert_eq!(verify(&a, A_ID, ts, A_SIG, A_BODY, A_TS + 300), Ok(()));
    assert_eq!(verify(&a, A_ID, ts, A_SIG, A_BODY, A_TS - 300), Ok(()));
    assert!(matches!(
        verify(&a, A_ID, ts, A_SIG, A_BODY, A_TS + 301),
        Err(VerifyError::TooOld { .. })
    ));
    assert!(matches!(
        verify(&a, A_ID, ts, A_SIG, A_BODY, A_TS - 301),
        Err(VerifyError::TooNew { .. })
    ));
}

#[test]
fn the_valid_signature_is_found_among_decoys_wherever_it_stands() {
    let a = secret(A_SECRET);
    for position in 0..=DECOYS.len() {
        let mut entries = DECOYS.to_vec();
        entries.insert(position, A_SIG);
        let header = entries.join(" ");
        assert_eq!(
            verify(&a, A_ID, "1614265330", &header, A_BODY, A_TS),
            Ok(())
        );
    }
    let mut with_b = DECOYS.to_vec();
    with_b.push(B_SIG);
    let header = with_b.join(" ");
    let b = secret(B_SECRET);
    assert_eq!(
        verify(&b, B_ID, "1649367553", &header, B_BODY, B_TS),
        Ok(())
    );
}

#[test]
fn decoys_alone_fail_for_both_vectors() {
    let header = DECOYS.join(" ");
    let a = secret(A_SECRET);
    let b = secret(B_SECRET);
    assert_eq!(
        verify(&a, A_ID, "1614265330", &header, A_BODY, A_TS),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(
        verify(&b, B_ID, "1649367553", &header, B_BODY, B_TS),
        Err(VerifyError::NoMatch)
    );
}

#[test]
fn unknown_versions_are_skipped_even_with_a_valid_v1_value() {
    let a = secret(A_SECRET);
    let as_v2 = A_SIG.replacen("v1,", "v2,", 1);
    let as_v1a = A_SIG.replacen("v1,", "v1a,", 1);
    for header in [as_v2.as_str(), as_v1a.as_str()] {
        assert_eq!(
            verify(&a, A_ID, "1614265330", header, A_BODY, A_TS),
            Err(VerifyError::NoMatch)
        );
    }
}

#[test]
fn malformed_headers_fail() {
    let a = secret(A_SECRET);
    for header in [
        "v1,",
        "",
        "v1",
        "garbage",
        "v1,not base64!",
        A_SIG.trim_start_matches("v1,"),
    ] {
        assert_eq!(
            verify(&a, A_ID, "1614265330", header, A_BODY, A_TS),
            Err(VerifyError::NoMatch),
            "header {header:?}"
        );
    }
}

#[test]
fn ids_and_timestamps_with_a_full_stop_are_refused() {
    let a = secret(A_SECRET);
    assert_eq!(
        verify(&a, "msg.1", "1614265330", A_SIG, A_BODY, A_TS),
        Err(VerifyError::InvalidId)
    );
    assert_eq!(
        verify(&a, A_ID, "1614265330.0", A_SIG, A_BODY, A_TS),
        Err(VerifyError::InvalidTimestamp("1614265330.0".into()))
    );
    for ts in ["", "+1614265330", "-5", "soon"] {
        assert!(matches!(
            verify(&a, A_ID, ts, A_SIG, A_BODY, A_TS),
            Err(VerifyError::InvalidTimestamp(_))
        ));
    }
}

#[test]
fn signature_header_signs_with_every_secret_for_rotation() {
    let new = WebhookSecret::generate_with(&mut rand::rngs::StdRng::seed_from_u64(7));
    let old = secret(A_SECRET);
    let header = signature_header(&[&new, &old], A_ID, A_TS, A_BODY);
    let parts: Vec<&str> = header.split(' ').collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1], A_SIG);
    for s in [&new, &old] {
        assert_eq!(verify(s, A_ID, "1614265330", &header, A_BODY, A_TS), Ok(()));
    }
}

#[test]
fn the_prefix_is_optional_and_padding_may_be_stripped() {
    let full = secret(A_SECRET);
    assert_eq!(secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), full);
    assert_eq!(secret("  whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), full);
    // Two `=` missing (25 key bytes); the expected signature is the
    // official Python library's for this secret, and also what
    // `hmac.new(base64.b64decode(s + "=="), signed, sha256)` gives.
    let unpadded = secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr");
    assert_eq!(
        unpadded,
        secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==")
    );
    assert_eq!(unpadded.as_bytes().len(), 25);
    assert_eq!(
        sign_v1(&unpadded, A_ID, A_TS, A_BODY),
        "v1,yK2tMbA6BHPrMEJ1lLv7UlJJbgFoqGenJkiajZ29evg="
    );
}

#[test]
fn the_one_pad_short_vector_decodes_but_is_below_the_minimum_length() {
    // `…LaLaS` decodes without its `=`; it is refused only because 23
    // bytes is under the 24-byte minimum of the specification.
    assert_eq!(
        WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"),
        Err(SecretError::BadLength(23))
    );
    assert_eq!(
        WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS="),
        Err(SecretError::BadLength(23))
    );
}

#[test]
fn bad_secrets_are_refused_with_the_problem_named() {
    assert_eq!(WebhookSecret::parse(""), Err(SecretError::Empty));
    assert_eq!(WebhookSecret::parse("whsec_"), Err(SecretError::Empty));
    assert!(matches!(
        WebhookSecret::parse("whsec_not base64!"),
        Err(SecretError::NotBase64(_))
    ));
    let short = STANDARD.encode([1u8; 16]);
    let err = WebhookSecret::parse(&short).unwrap_err();
    assert_eq!(err, SecretError::BadLength(16));
    assert!(err.to_string().contains("16 bytes"));
    assert_eq!(
        WebhookSecret::parse(&STANDARD.encode([1u8; 65])),
        Err(SecretError::BadLength(65))
    );
    assert!(WebhookSecret::parse(&STANDARD.encode([1u8; 64])).is_ok());
}

#[test]
fn a_generated_secret_round_trips_through_its_text_form() {
    let s = WebhookSecret::generate();
    assert_eq!(s.as_bytes().len(), 24);
    let text = s.expose();
    assert!(text.starts_with("whsec_"));
    assert_eq!(secret(&text), s);
    assert_eq!(s.to_string_full(), text);
    assert_ne!(WebhookSecret::generate(), s);
}

#[test]
fn expose_writes_padded_base64_and_preview_keeps_four_characters() {
    let unpadded = secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr");
    assert_eq!(
        unpadded.expose(),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBg=="
    );
    assert_eq!(secret(A_SECRET).expose(), A_SECRET);
    assert_eq!(secret(A_SECRET).preview(), "whsec_MfKQ…");
}

#[test]
fn debug_does_not_print_the_secret() {
    let shown = format!("{:?}", secret(A_SECRET));
    assert_eq!(shown, "WebhookSecret(\"whsec_MfKQ…\")");
    assert!(!shown.contains("9r8GKYqr"));
}

#[test]
fn hex_body_signature_matches_an_independent_hmac() {
    // python3 -c 'import hmac,hashlib,base64;
    //   k=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    //   print(hmac.new(k,b"{\"test\": 2432232314}",hashlib.sha256).hexdigest())'
    assert_eq!(
        hex_body_signature(&secret(A_SECRET), A_BODY),
        "sha256=e2cb4f5251572539d458bfb8a7adb533b08801e6a794467e06f771debbb0818b"
    );
}
