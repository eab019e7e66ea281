//! Every command and body type decoded from byte literals, with every field asserted; auto
//! detection of each dialect; literal frames encode back to themselves.

use super::*;

#[test]
fn seal_matches_the_literal_frames() {
    for (literal, cmd) in [(LOGIN, 1), (LOGOUT, 4), (TIME_SYNC, 5), (REMOVAL_ALARM, 6)] {
        let bytes = h(literal);
        assert_eq!(seal(cmd, &bytes[24..bytes.len() - 1]), bytes);
    }
    for literal in [GB_ONE_STREAM, HJ_FRAME, HYBRID_FRAME] {
        let bytes = h(literal);
        assert_eq!(seal(bytes[2], &bytes[24..bytes.len() - 1]), bytes);
        assert_eq!(bytes.iter().fold(0, |a, b| a ^ b), 0, "BCC");
    }
}

#[test]
fn login() {
    let f = decode(&h(LOGIN), DialectChoice::Auto).unwrap();
    assert_eq!(f.command(), Command::Login);
    assert_eq!(f.command().as_str(), "login");
    assert_eq!(f.vin().unwrap().as_str(), "LGDCHA1G8MA127733");
    assert!(f.vin().unwrap().is_valid());
    assert_eq!(f.software_version, Some(0x10));
    assert_eq!(
        f.dialect,
        Dialect::Gb17691,
        "auto reports the defining standard"
    );
    let Content::Login(l) = f.content else {
        panic!()
    };
    assert_eq!(l.collected_at, t0());
    assert_eq!(l.collected_at.rfc3339(), "2024-03-15T02:20:30Z");
    assert_eq!(l.serial, 7);
    assert_eq!(l.iccid_str(), Some("89860012345678901234"));
    assert_eq!(decode(&h(LOGIN), HJ).unwrap().dialect, Dialect::Hj1239);
}

#[test]
fn logout_and_time_sync() {
    let f = decode(&h(LOGOUT), GB).unwrap();
    assert_eq!(f.command().as_str(), "logout");
    assert_eq!(
        f.content,
        Content::Logout(Logout {
            collected_at: t0(),
            serial: 7
        })
    );
    let f = decode(&h(TIME_SYNC), HYBRID).unwrap();
    assert_eq!(f.command().as_str(), "time_sync");
    assert_eq!(f.content, Content::TimeSync);
    assert_eq!(f.collected_at(), None);
    assert_eq!(f.dialect, Dialect::Hybrid);
}

#[test]
fn removal_alarm_is_hj_and_signs_the_hemispheres() {
    for choice in [GB, HJ, HYBRID, DialectChoice::Auto] {
        let f = decode(&h(REMOVAL_ALARM), choice).unwrap();
        assert_eq!(f.command().as_str(), "removal_alarm");
        assert_eq!(f.dialect, Dialect::Hj1239);
        let Content::RemovalAlarm(a) = f.content else {
            panic!()
        };
        assert_eq!((a.collected_at, a.serial), (t0(), 9));
        let p = a.position().unwrap();
        assert!(p.valid);
        assert_eq!((p.lon, p.lat), (-70.5, -33.25));
    }
}

#[test]
fn activation_bodies_are_opaque() {
    let f = decode(&seal(0x07, &h("01 02 03")), GB).unwrap();
    assert_eq!(f.command().as_str(), "activation");
    assert_eq!(f.content, Content::Activation(vec![1, 2, 3]));
    assert_eq!(f.dialect, Dialect::Hj1239);
    let f = decode(&seal(0x08, &[]), DialectChoice::Auto).unwrap();
    assert_eq!(f.command().as_str(), "activation_response");
    assert_eq!(f.content, Content::ActivationResponse(vec![]));
}

#[test]
fn gb_stream_body_decodes_every_field() {
    let f = decode(&h(GB_ONE_STREAM), GB).unwrap();
    assert_eq!(f.command().as_str(), "realtime");
    let u = unit(&f);
    assert_eq!((u.collected_at, u.serial, u.signature), (t0(), 1, None));
    assert_eq!(u.bodies.len(), 1);
    assert_eq!(u.bodies[0].collected_at, None);
    let Info::Stream(s) = &u.bodies[0].info else {
        panic!()
    };
    assert_reference_stream(s);
    assert_eq!(s.as_bytes().to_vec(), h(stream_hex!()));
}

#[test]
fn gb_frame_with_ten_stream_bodies() {
    let mut du = h(concat!(time_hex!(), "00 0A"));
    for i in 0..10u8 {
        let mut body = h(stream_hex!());
        body[0..2].copy_from_slice(&(u16::from(i) * 256).to_be_bytes()); // i km/h
        du.push(0x02);
        du.extend(body);
    }
    let f = decode(&seal(0x02, &du), DialectChoice::Auto).unwrap();
    assert_eq!(f.dialect, Dialect::Gb17691);
    let u = unit(&f);
    assert_eq!(u.bodies.len(), 10);
    let streams: Vec<StreamEntry> = u.streams().collect();
    assert_eq!(streams.len(), 10);
    for (i, e) in streams.iter().enumerate() {
        assert_eq!((e.ordinal, e.collected_at), (i, None));
        close(e.body.speed_kmh(), i as f64);
        close(e.body.nox_downstream_ppm(), 120.0);
    }
}

#[test]
fn hj_frame_with_body_times_obd_and_signature() {
    let f = decode(&h(HJ_FRAME), HJ).unwrap();
    assert_eq!(f, decode(&h(HJ_FRAME), DialectChoice::Auto).unwrap());
    assert_eq!(f.dialect, Dialect::Hj1239);
    let u = unit(&f);
    assert_eq!((u.collected_at, u.serial, u.bodies.len()), (t0(), 2, 3));
    let sig = u.signature.unwrap();
    assert_eq!(
        (sig.r[0], sig.r[31], sig.s[0], sig.s[31]),
        (1, 0x20, 0x21, 0x40)
    );

    let (obd_time, obd) = u.obd().next().unwrap();
    assert_eq!(obd_time, Some(t0()));
    assert_eq!(obd.protocol(), ObdProtocol::Iso15765);
    assert_eq!(obd.mil(), Ok(true));
    assert_eq!(obd.vin().unwrap().as_str(), "LGDCHA1G8MA127733");
    assert_eq!(&obd.calibration_id, b"CAL123450000000000");
    assert_eq!(&obd.cvn, b"1A2B3C4D0000000000");
    assert_eq!((obd.iupr[0], obd.iupr[35]), (0, 35));
    assert_eq!(obd.dtc_count(), Ok(2));
    assert_eq!(obd.dtcs()[0], Dtc([0x20, 0x47, 0x00, 0xAF]));
    let codes: Vec<String> = obd.decoded_dtcs().map(|d| d.unwrap().to_string()).collect();
    assert_eq!(codes, ["P2047", "P2463"]);
    assert_eq!(obd.dtcs()[0].sae().status, 0xAF);
    let supported: Vec<Monitor> =
        monitors_set(obd.diagnostic_support, BitOrder::LsbFirst).collect();
    assert_eq!(
        supported,
        [Monitor::Catalyst, Monitor::Dpf, Monitor::ScrNoxAdsorber]
    );
    assert!(monitor_bit(
        obd.readiness,
        Monitor::Dpf,
        BitOrder::default()
    ));

    let streams: Vec<StreamEntry> = u.streams().collect();
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0].collected_at, Some(t0()));
    assert_eq!(streams[1].collected_at, Some(at(2024, 3, 15, 10, 20, 31)));
    assert_reference_stream(&streams[0].body);
    close(streams[1].body.speed_kmh(), 63.0);
}

#[test]
fn vendor_hybrid_frame() {
    let f = decode(&h(HYBRID_FRAME), HYBRID).unwrap();
    assert_eq!(f, decode(&h(HYBRID_FRAME), DialectChoice::Auto).unwrap());
    assert_eq!(
        (f.command(), f.dialect),
        (Command::Reissue, Dialect::Hybrid)
    );
    let u = unit(&f);
    assert!(u.signature.is_some());
    assert!(u.bodies.iter().all(|b| b.collected_at.is_none()));
    let types: Vec<u8> = u.bodies.iter().map(|b| b.info.info_type()).collect();
    assert_eq!(types, [0x02, 0x04, 0x03, 0x05, 0x80]);
    let Info::HybridAddOn(hy) = &u.bodies[1].info else {
        panic!()
    };
    close(hy.motor_rpm(), 1500.0);
    close(hy.motor_load_pct(), 45.0);
    close(hy.battery_voltage_v(), 550.5);
    close(hy.battery_current_a(), -12.3);
    close(hy.soc_pct(), 68.0);
    assert_eq!(u.bodies[2].info, Info::TwcWithoutNox([0xAA; 30]));
    assert_eq!(u.bodies[3].info, Info::TwcWithNox([0xBB; 32]));
    assert_eq!(
        u.bodies[4].info,
        Info::UserDefined {
            info_type: 0x80,
            data: vec![0xDE, 0xAD, 0xBE]
        }
    );
}

#[test]
fn auto_detection_picks_each_dialect() {
    let pick = |bytes: &[u8]| decode(bytes, DialectChoice::Auto).unwrap().dialect;
    assert_eq!(pick(&h(GB_ONE_STREAM)), Dialect::Gb17691);
    assert_eq!(pick(&h(HJ_FRAME)), Dialect::Hj1239);
    assert_eq!(pick(&h(HYBRID_FRAME)), Dialect::Hybrid);
    // No bodies: HJ 1239 and the hybrid read the same bytes; the stricter wins.
    let empty = seal(0x02, &h(concat!(time_hex!(), "00 01", signature_hex!())));
    assert_eq!(pick(&empty), Dialect::Hj1239);
    // The same HJ frame does not fit GB 17691 or the hybrid.
    assert!(decode(&h(HJ_FRAME), GB).is_err());
    assert!(decode(&h(HJ_FRAME), HYBRID).is_err());
}

#[test]
fn user_defined_length_position_per_dialect() {
    // GB 17691 / hybrid: type, length, data. HJ 1239: type, time, length, data.
    let gb = seal(
        0x02,
        &h(concat!(
            time_hex!(),
            "00 01 FE 00 02 AB CD 02",
            stream_hex!()
        )),
    );
    let u = decode(&gb, GB).unwrap();
    assert_eq!(unit(&u).bodies.len(), 2);
    let hj = seal(
        0x02,
        &h(concat!(
            time_hex!(),
            "00 01 81",
            time_hex!(),
            "00 01 EE",
            signature_hex!()
        )),
    );
    let f = decode(&hj, HJ).unwrap();
    assert_eq!(unit(&f).bodies[0].collected_at, Some(t0()));
    assert_eq!(
        unit(&f).bodies[0].info,
        Info::UserDefined {
            info_type: 0x81,
            data: vec![0xEE]
        }
    );
}

#[test]
fn literal_frames_encode_back_to_themselves() {
    for (literal, choice) in [
        (LOGIN, GB),
        (LOGOUT, HJ),
        (TIME_SYNC, HYBRID),
        (REMOVAL_ALARM, HJ),
        (GB_ONE_STREAM, GB),
        (HJ_FRAME, HJ),
        (HYBRID_FRAME, HYBRID),
    ] {
        let bytes = h(literal);
        let frame = decode(&bytes, choice).unwrap();
        assert_eq!(encode(&frame).unwrap(), bytes);
    }
}
