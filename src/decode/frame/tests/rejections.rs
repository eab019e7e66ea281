//! Each `FrameError` reason produced at least once, stable labels, dialect and command names,
//! and what the encoder refuses.

use super::*;

#[test]
fn every_rejection_has_its_reason() {
    let good = h(GB_ONE_STREAM);
    assert_eq!(reason(&h("24 23 02"), GB), "frame_bad_start");
    assert_eq!(reason(&h("23"), GB), "frame_truncated");
    assert_eq!(reason(&good[..30], GB), "frame_truncated");
    assert_eq!(reason(&good[..good.len() - 1], GB), "frame_truncated");
    let mut long = good.clone();
    long.push(0);
    assert_eq!(reason(&long, GB), "frame_length_mismatch");
    let mut bad_bcc = good.clone();
    *bad_bcc.last_mut().unwrap() ^= 0x01;
    assert_eq!(reason(&bad_bcc, GB), "frame_bad_bcc");

    let reseal = |patch: &dyn Fn(&mut Vec<u8>)| {
        let mut f = good.clone();
        patch(&mut f);
        let n = f.len() - 1;
        f[n] = f[..n].iter().fold(0, |a, b| a ^ b);
        f
    };
    assert_eq!(reason(&reseal(&|f| f[21] = 0x03), GB), "frame_encrypted");
    assert_eq!(
        reason(&reseal(&|f| f[2] = 0x09), GB),
        "frame_unknown_command"
    );
    assert_eq!(reason(&reseal(&|f| f[25] = 13), GB), "frame_bad_time");
    assert_eq!(reason(&reseal(&|f| f[27] = 24), GB), "frame_bad_time");
    // 2023-02-30 and 2024-02-29.
    assert_eq!(
        reason(&reseal(&|f| f[24..27].copy_from_slice(&[23, 2, 30])), GB),
        "frame_bad_time"
    );
    assert!(decode(&reseal(&|f| f[24..27].copy_from_slice(&[24, 2, 29])), GB).is_ok());
    assert_eq!(
        reason(&reseal(&|f| f[32] = 0x06), GB),
        "frame_unknown_info_type"
    );
    assert_eq!(
        reason(&reseal(&|f| f[32] = 0x03), GB),
        "frame_unknown_info_type"
    );

    let du = h(concat!(time_hex!(), "00 01 02", stream_hex!()));
    assert_eq!(
        reason(&seal(0x02, &du[..du.len() - 1]), GB),
        "frame_body_overrun"
    );
    assert_eq!(reason(&seal(0x02, &du[..5]), GB), "frame_data_unit_short");
    assert_eq!(reason(&seal(0x01, &du[..27]), GB), "frame_data_unit_length");
    assert_eq!(reason(&seal(0x05, &du[..1]), GB), "frame_data_unit_length");
    let mut padded = du.clone();
    padded.extend([0, 0, 0]);
    assert_eq!(reason(&seal(0x02, &padded), GB), "frame_trailing_bytes");

    let hj = h(HJ_FRAME);
    let hj_du = &hj[24..hj.len() - 1];
    let mut after_sig = hj_du.to_vec();
    after_sig.push(0x02);
    assert_eq!(reason(&seal(0x02, &after_sig), HJ), "frame_trailing_bytes");
    let unsigned = &hj_du[..hj_du.len() - 66];
    assert_eq!(reason(&seal(0x02, unsigned), HJ), "frame_missing_signature");
    let mut bad_s = hj_du.to_vec();
    let n = bad_s.len();
    bad_s[n - 33] = 0x21;
    assert_eq!(reason(&seal(0x02, &bad_s), HJ), "frame_bad_signature");
    // S is a length: 31 bytes of S leave one byte over.
    let mut short_s = hj_du.to_vec();
    short_s[n - 33] = 0x1F;
    assert_eq!(reason(&seal(0x02, &short_s), HJ), "frame_trailing_bytes");
    assert_eq!(
        reason(&seal(0x02, &hj_du[..n - 1]), HJ),
        "frame_bad_signature"
    );
    // A hybrid signature read as GB 17691 is reported as trailing bytes, not a body.
    let hy = seal(
        0x03,
        &h(concat!(
            time_hex!(),
            "00 01 02",
            stream_hex!(),
            signature_hex!()
        )),
    );
    assert_eq!(reason(&hy, GB), "frame_trailing_bytes");
    assert_eq!(reason(&h(HYBRID_FRAME), GB), "frame_unknown_info_type");
    // Auto reports the parse that got furthest: HJ 1239's missing S length.
    let e = decode(&seal(0x02, &bad_s), DialectChoice::Auto).unwrap_err();
    assert_eq!(e.reason(), "frame_bad_signature");
}

#[test]
fn reasons_are_distinct_and_listed() {
    let mut reasons = FrameError::REASONS.to_vec();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), FrameError::REASONS.len());
    let e = FrameError::Encrypted { code: 3 };
    assert!(FrameError::REASONS.contains(&e.reason()));
    assert!(e.to_string().contains("offset 21"));
}

#[test]
fn dialect_and_command_names() {
    for (text, choice) in [
        ("auto", DialectChoice::Auto),
        ("gb17691", GB),
        ("hj1239", HJ),
        ("hybrid", HYBRID),
    ] {
        assert_eq!(text.parse::<DialectChoice>(), Ok(choice));
        assert_eq!(choice.to_string(), text);
    }
    assert!("GB".parse::<DialectChoice>().is_err());
    let names: Vec<&str> = (1..=8)
        .map(|c| Command::from_code(c).unwrap().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "login",
            "realtime",
            "reissue",
            "logout",
            "time_sync",
            "removal_alarm",
            "activation",
            "activation_response"
        ]
    );
    assert_eq!(Command::from_code(0), None);
    assert_eq!(Command::from_code(9), None);
}

#[test]
fn encoder_refuses_what_would_not_round_trip() {
    let gb = decode(&h(GB_ONE_STREAM), GB).unwrap();
    let hj = decode(&h(HJ_FRAME), HJ).unwrap();
    let as_gb = Frame {
        dialect: Dialect::Hj1239Unsigned,
        ..hj.clone()
    };
    assert!(matches!(encode(&as_gb), Err(EncodeError::Signature { .. })));
    let as_gb = Frame {
        dialect: Dialect::Hybrid,
        ..hj.clone()
    };
    assert!(matches!(
        encode(&as_gb),
        Err(EncodeError::BodyTime { index: 0, .. })
    ));
    let as_signed_bodies = Frame {
        dialect: Dialect::SignedBodies,
        ..gb.clone()
    };
    assert!(matches!(
        encode(&as_signed_bodies),
        Err(EncodeError::BodySignature { index: 0, .. })
    ));
    // A standard header whose VIN starts with 0xFE would read back as the GB/T 32960 one.
    let mut flagged = gb.clone();
    flagged.vin_bytes[0] = RESPONSE_FLAG;
    assert!(matches!(encode(&flagged), Err(EncodeError::VinLikeFlag)));
    let as_hybrid = Frame {
        dialect: Dialect::Hybrid,
        ..gb.clone()
    };
    assert!(matches!(
        encode(&as_hybrid),
        Err(EncodeError::Signature { .. })
    ));
    let mut subsecond = gb.clone();
    if let Content::Realtime(u) = &mut subsecond.content {
        u.collected_at = EventTime(u.collected_at.0 + 1);
    }
    assert!(matches!(encode(&subsecond), Err(EncodeError::Time(_))));
    let mut twc = gb.clone();
    if let Content::Realtime(u) = &mut twc.content {
        u.bodies[0].info = Info::TwcWithNox([0; 32]);
    }
    assert!(matches!(
        encode(&twc),
        Err(EncodeError::InfoTypeNotInDialect { .. })
    ));
    let alarm = decode(&h(REMOVAL_ALARM), HJ).unwrap();
    let alarm_gb = Frame {
        dialect: Dialect::Gb17691,
        ..alarm
    };
    assert!(matches!(
        encode(&alarm_gb),
        Err(EncodeError::CommandNotInDialect { .. })
    ));
    let mut out = vec![9];
    assert!(encode_into(&alarm_gb, &mut out).is_err());
    assert_eq!(out, [9], "a failed encode leaves the buffer as it was");
}
