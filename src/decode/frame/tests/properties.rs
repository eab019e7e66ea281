//! Properties of the frame codec: encode → decode is the identity on every frame the encoder
//! accepts (all commands, body types and dialects); decoding arbitrary bytes, truncations and
//! bit flips of valid frames never panics, and whatever decodes is lossless and range-checked.

use proptest::prelude::*;

use super::*;
use crate::model::{unix_secs_from_civil, EventTime};

fn bytes<const N: usize>() -> impl Strategy<Value = [u8; N]> {
    prop::collection::vec(any::<u8>(), N).prop_map(|v| v.try_into().unwrap_or([0; N]))
}

/// Whole seconds from 2000-01-01 to mid-2253, Beijing.
fn time() -> impl Strategy<Value = EventTime> {
    let base = unix_secs_from_civil(2000, 1, 1, 0, 0, 0) - 8 * 3600;
    (0i64..8_000_000_000).prop_map(move |k| EventTime::from_unix_secs(base + k))
}

fn obd() -> impl Strategy<Value = ObdBody> {
    let dtcs = prop::option::weighted(
        0.9,
        prop::collection::vec(bytes::<4>().prop_map(Dtc), 0..12),
    );
    (
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>()),
        (bytes::<17>(), bytes::<18>(), bytes::<18>(), bytes::<36>()),
        dtcs,
    )
        .prop_map(
            |((p, m, support, ready), (vin, cal, cvn, iupr), dtcs)| ObdBody {
                protocol_code: p,
                mil_code: m,
                diagnostic_support: support,
                readiness: ready,
                vin_bytes: vin,
                calibration_id: cal,
                cvn,
                iupr,
                dtcs,
            },
        )
}

fn info(dialect: Dialect) -> BoxedStrategy<Info> {
    let common = prop_oneof![
        2 => obd().prop_map(|o| Info::Obd(Box::new(o))),
        8 => bytes::<STREAM_BODY_LEN>().prop_map(|b| Info::Stream(StreamBody::from_raw(b))),
        1 => (0x80u8..=0xFE, prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(info_type, data)| Info::UserDefined { info_type, data }),
    ];
    if !dialect.hj_bodies() {
        return common.boxed();
    }
    prop_oneof![
        6 => common,
        1 => bytes::<30>().prop_map(Info::TwcWithoutNox),
        1 => bytes::<HYBRID_BODY_LEN>().prop_map(|b| Info::HybridAddOn(HybridBody::from_raw(b))),
        1 => bytes::<32>().prop_map(Info::TwcWithNox),
    ]
    .boxed()
}

/// Halves of 1–32 bytes, mostly the full 32.
fn signature() -> impl Strategy<Value = Signature> {
    let half = prop_oneof![
        3 => Just(32usize),
        1 => 1usize..=32,
    ];
    (half.clone(), half, bytes::<32>(), bytes::<32>())
        .prop_map(|(rl, sl, r, s)| Signature::new(&r[..rl], &s[..sl]).unwrap())
}

fn data_unit(dialect: Dialect) -> impl Strategy<Value = DataUnit> {
    // A timed body's time is sometimes absent: six zero bytes on the wire.
    let body = (
        prop::option::weighted(0.9, time()),
        info(dialect),
        signature(),
        any::<u16>(),
    )
        .prop_map(move |(t, info, sig, serial)| Body {
            collected_at: t.filter(|_| dialect.timed_bodies()),
            info,
            signature: (dialect.signing() == Signing::EachBody).then_some(sig),
            serial: (dialect.serial_at() == SerialAt::AfterEveryType).then_some(serial),
        });
    (
        time(),
        any::<u16>(),
        prop::collection::vec(body, 0..12),
        signature(),
    )
        .prop_map(move |(collected_at, serial, bodies, sig)| DataUnit {
            collected_at,
            // Where the serial follows a type byte, a data unit without bodies has none.
            serial: match dialect.serial_at() {
                SerialAt::AfterTime => serial,
                SerialAt::AfterFirstType => bodies.first().map_or(0, |_| serial),
                SerialAt::AfterEveryType => bodies.first().and_then(|b| b.serial).unwrap_or(0),
            },
            bodies,
            signature: (dialect.signing() == Signing::End).then_some(sig),
        })
}

fn content(dialect: Dialect) -> impl Strategy<Value = Content> {
    let head = || (time(), any::<u16>());
    prop_oneof![
        (head(), bytes::<20>()).prop_map(|((collected_at, serial), iccid)| {
            Content::Login(Login {
                collected_at,
                serial,
                iccid,
            })
        }),
        data_unit(dialect).prop_map(Content::Realtime),
        data_unit(dialect).prop_map(Content::Reissue),
        head().prop_map(|(collected_at, serial)| Content::Logout(Logout {
            collected_at,
            serial
        })),
        Just(Content::TimeSync),
        (head(), any::<u8>(), any::<u32>(), any::<u32>()).prop_map(
            |((collected_at, serial), position_status, longitude_raw, latitude_raw)| {
                Content::RemovalAlarm(RemovalAlarm {
                    collected_at,
                    serial,
                    position_status,
                    longitude_raw,
                    latitude_raw,
                })
            }
        ),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Content::Activation),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Content::ActivationResponse),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    let dialect = prop::sample::select(Dialect::ALL.to_vec());
    dialect.prop_flat_map(|dialect| {
        let version = prop::option::weighted(0.8, any::<u8>());
        (bytes::<17>(), version, content(dialect)).prop_map(move |(mut vin, version, content)| {
            if version.is_some() && vin[0] == RESPONSE_FLAG {
                vin[0] = b'L';
            }
            let mut frame = Frame {
                vin_bytes: vin,
                software_version: version,
                dialect,
                content,
            };
            if frame.command().hj_only() {
                frame.dialect = Dialect::Hj1239;
            }
            frame
        })
    })
}

fn in_range(spec: &FieldSpec, r: Reading<f64>) -> bool {
    r.map_or(true, |v| v >= spec.min() && v <= spec.max())
}

fn position_in_range(p: Reading<Position>) -> bool {
    p.map_or(true, |p| p.lon.abs() <= 180.0 && p.lat.abs() <= 90.0)
}

/// Every stream, hybrid and position value is absent or inside its field's range.
fn assert_values_in_range(frame: &Frame) {
    if let Content::RemovalAlarm(a) = &frame.content {
        assert!(position_in_range(a.position()));
    }
    let Some(unit) = frame.data_unit() else {
        return;
    };
    for body in &unit.bodies {
        match &body.info {
            Info::Stream(s) => {
                for field in StreamField::ALL {
                    assert!(in_range(field.spec(), s.value(field)), "{field:?} of {s:?}");
                }
                assert!(position_in_range(s.position()));
            }
            Info::HybridAddOn(hy) => {
                for field in HybridField::ALL {
                    assert!(in_range(field.spec(), hy.value(field)));
                }
            }
            _ => {}
        }
    }
}

/// Whatever decodes must be range-checked and re-encode to the very same bytes.
fn check_decoded(bytes: &[u8], choice: DialectChoice) {
    if let Ok(frame) = decode(bytes, choice) {
        assert_values_in_range(&frame);
        assert_eq!(encode(&frame).as_deref(), Ok(bytes));
    }
}

fn reseal(bytes: &mut [u8]) {
    if let Some((bcc, rest)) = bytes.split_last_mut() {
        *bcc = rest.iter().fold(0, |a, b| a ^ b);
    }
}

const CHOICES: [DialectChoice; 8] = DialectChoice::ALL;

/// The bodies and times a frame's data unit reads as, whatever its signatures.
fn reading(f: &Frame) -> Option<Vec<(Option<EventTime>, Info)>> {
    f.data_unit().map(|u| {
        u.bodies
            .iter()
            .map(|b| (b.collected_at, b.info.clone()))
            .collect()
    })
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(f in frame()) {
        let bytes = encode(&f).unwrap();
        prop_assert_eq!(decode(&bytes, DialectChoice::Fixed(f.dialect)), Ok(f.clone()));
        // Auto may credit a data unit to another dialect that reads the same bodies (a
        // body-less signed unit, one body and one signature), or refuse one that two dialects
        // read differently; it never reads other bodies than were written.
        match decode(&bytes, DialectChoice::Auto) {
            Ok(auto) => {
                prop_assert_eq!(encode(&auto).unwrap(), bytes);
                prop_assert_eq!(reading(&auto), reading(&f));
                if f.command().hj_only() {
                    prop_assert_eq!(auto.dialect, Dialect::Hj1239);
                }
            }
            Err(e) => prop_assert!(matches!(e, FrameError::Ambiguous { .. }), "{e}"),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..400)) {
        for choice in CHOICES {
            check_decoded(&raw, choice);
        }
    }

    #[test]
    fn arbitrary_data_units_never_panic(
        command in 0u8..=9,
        head in bytes::<8>(),
        types in prop::collection::vec(prop_oneof![1u8..=5, Just(0x20), 0x7Fu8..=0x81, any::<u8>()], 0..8),
        filler in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        // Plausible times and body types placed among random bytes reach deeper than noise.
        let mut du = vec![24, 3, 15, 10, 20, 30, head[6], head[7]];
        let mut filler = filler.into_iter();
        for t in types {
            du.push(t);
            du.extend(filler.by_ref().take(usize::from(head[0] % 64)));
        }
        du.extend(filler);
        let frame = seal(command, &du);
        for choice in CHOICES {
            check_decoded(&frame, choice);
        }
    }

    #[test]
    fn truncations_are_rejected(f in frame(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&f).unwrap();
        let n = cut.index(bytes.len());
        for choice in CHOICES {
            prop_assert!(decode(&bytes[..n], choice).is_err());
        }
    }

    #[test]
    fn bit_flips_are_rejected_or_decode_cleanly(f in frame(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = encode(&f).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        for choice in CHOICES {
            // A single flipped bit always breaks the BCC (or the framing before it).
            prop_assert!(decode(&bytes, choice).is_err());
        }
        // With the BCC recomputed, the parsers themselves see the damage.
        reseal(&mut bytes);
        for choice in CHOICES {
            check_decoded(&bytes, choice);
        }
    }
}
