//! Frames written by other people: test frames, templates and captures published in public
//! terminal firmware, platform decoders and test tools (found by searching public code; the
//! hex is copied byte for byte, the code around it is not). Each is decoded field for field in
//! the layout its source uses, and auto detection must pick that layout by itself.

use super::*;

fn hex(parts: &[&str]) -> Vec<u8> {
    h(&parts.concat())
}

fn auto(parts: &[&str]) -> Frame {
    decode(&hex(parts), DialectChoice::Auto).unwrap()
}

fn unit(f: &Frame) -> &DataUnit {
    f.data_unit().unwrap()
}

fn at(text: &str) -> EventTime {
    let [y, mo, d, hh, mi, s] =
        [0, 3, 6, 9, 12, 15].map(|i| text[i..i + 2].parse::<u32>().unwrap());
    let local = unix_secs_from_civil(2000 + i64::from(y), mo, d, hh, mi, s);
    EventTime::from_unix_secs(local - 8 * 3600)
}

/// A platform decoder's test frame (Tiza six-rp `TestMain.java`): GB 17691 bodies, each
/// followed by a 32 + 32-byte signature block, no body time.
const SIGNED_BODIES: &[&str] = &[
    "2323024C57485445535431323334353637383935110101131306030F193B000401010000EB00804C57485445",
    "5354313233343536373839353630313630332D4532303030303030303030545A574830303030583030303030",
    "3030303031303230313032300000000000000000000000000000000000000000000000000000000000203131",
    "3030303341424230333346464141434430333839434345443132394544002032323030424330334142423033",
    "33464641414344453830383943434544314544022621CA98B41B5601631CA8109AAA00172BAA2A2204A25B54",
    "000686C1D7020D043F00002AFD20313130303033414242303333464641414344303338394343454431323945",
    "44002032323030424330334142423033334646414143444538303839434345443145445F",
];
/// A terminal simulator's frame (carsimu `Car_data.java`): no serial after the time, a serial
/// after each type byte; SCR temperatures and DPF pressure 0xFEFF, NOx not ready.
const BODY_SERIALS: &[&str] = &[
    "2323024C47444348413147384D41313237373333010100AD15080E082F230100010100ABDEA9D64C47444348",
    "413147384D4131323737333359435933303136352D363020202020200000EC40A1BF00000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000007145600",
    "AFE00200AFE06200AFE00900AF204700AF245500AFE01200AF0200010000C57D830000000000000000610000",
    "FEFFFEFFFEFF3D000006AFD31701EA55FE000000289F",
];
/// A gateway splitter's sample (Go `Split()`): per-body serials 0xC4B6 and 0x5F82.
const BODY_SERIALS_2: &[&str] = &[
    "2323024c45575043413030304a463236303133340101009114060b10131801c4b6000075218ba64c45575043",
    "413030304a463236303133343131313131313131313131313131313131313131313131313131313131313131",
    "3131313130303030303030303030303030303030303030303030303030303030303030303030303000025f82",
    "890f6d7a8a8739000100020fdcaf003c224047a058822e710005ec987d020600d68f8922a2fa",
];
/// A test script's frame with one OBD body: GB 17691 and both serial placements read the same
/// body, so auto detection may pick GB 17691.
const ONE_OBD_BODY: &[&str] = &[
    "2323024C4349414D4D42453447303030343637310201006914051D0D341E0100010000000000004C4349414D",
    "4D42453447303030343637313030303030303030303030303030303030303030303030303030303030303030",
    "303030303030303030303030303030303030303030303030303030303030303030303030303030300043",
];
/// A BCC helper's example login.
const LOGIN: &[&str] = &[
    "2323014C47444348393147384B413134313236390101001C1401080E08060003383938363131313932323230",
    "33353530373837373A",
];
/// A platform's example HJ 1239 frame (Bitnei `ProtocolMessageService`): signed, but with
/// encryption code 0x02 over a plaintext data unit.
const HJ_ENCRYPTION_2: &[&str] = &[
    "2323024d5258494b5931383832353131313134340002026d13090b003923015a0113090b00391a0200ffffff",
    "ff4d5258494b59313838323531313131343464656661756c74000000000000000000000064656661756c7400",
    "0000000000000000000064656661756c74000000000000000000000000000000000000000000000000000000",
    "000001000000020213090b00391a5a00c87d7d000000000fa00fa000000022202220000028000006aed0c201",
    "cbbf4f000026de0213090b00391b5a00c87d7d000000000fa00fa000000022202220000028000006aed0c201",
    "cbbf4f000026de0213090b00391c5a00c87d7d000000000fa00fa000000022202220000028000006aed0c201",
    "cbbf4f000026de0213090b00391d5a00c87d7d000000000fa00fa000000022202220000028000006aed0c201",
    "cbbf4f000026de0213090b00391e5a00c87d7d000000000fa00fa000000022202220000028000006aed0c201",
    "cbbf4f000026de0213090b00391f5a00c87d7d000000000fa00fa000000022202220000028000006aed0c201",
    "cbbf4f000026de0213090b0039205a00c87d7d000000000fa00fa000000022202220000028000006aed0c201",
    "cbbf4f000026de0213090b0039215a00c87d7d000000000fa00fa000000022202220000028000006aed0c201",
    "cbbf4f000026de0213090b0039225a00c87d7d000000000fa00fa000000022202220000028000006aed0c201",
    "cbbf4f000026de0213090b0039235a00c87d7d000000000fa00fa000000022202220000028000006aed0c201",
    "cbbf4f000026de20103f7c4330c500df66e41c304a98d40bfd69d036b8192a74f17830b84a9d5d5320a47f81",
    "096fb2b7e1e0f359f01a3b3a70704d3e07ab356d82b528112d49fd4350d1",
];
/// A test tool's captured frame (Isuzu upload template): GB/T 32960-style header, HJ 1239 body
/// times without a signature, the OBD body's time all zeros, a user-defined 0x80 body.
const GBT32960_HJ_UNSIGNED: &[&str] = &[
    "232302FE4C45544145454733584B483932313030330100E8140311120B2C0604010000000000000100000000",
    "004C45544145454733584B483932313030333030303030303030303030303030303030303030303030303030",
    "3030303030303030303030303030303030303030303030303030303030303030303030303030303030303030",
    "30300002140311120B2C0000CB7D8300000000FFFFFFFF380000FFFFFFFF0000376F0006E5AF0101B4D30400",
    "0043A880140311120B2C0044271102000427120100271302000027140F000000000000000000000000000000",
    "271506000000000000271602003727170102271804000043A82719040000128E271A010135",
];
/// The same tool's logout, GB/T 32960-style header.
const GBT32960_LOGOUT: &[&str] =
    &["232304FE4A4C4630303030303030303030303030390100081308150E341E000191"];
/// The same tool's login template, whose BCC the tool recomputes before sending.
const GBT32960_STALE_BCC: &[&str] = &[
    "232301FE4C4554454444453130454830303030303201001C1401150F28200001383938363039313937313030",
    "3235303537383234B2",
];
/// A server's test task with a captured frame (`com.lq.netty.task.TestTask`): GB/T 32960-style
/// header, the serial after the first type byte, OBD and ten stream bodies.
const SERIAL_AFTER_TYPE: &[&str] = &[
    "232302FE4C45545945434732384D483035353530380101E917020E0D212E01C8D70100FEA000004C45545945",
    "434732384D483035353530384D44314343383738203439334C44303330302D2CECF430303030303030303030",
    "3030303004D80C3C005F005F085F04D80000000000810081029E04D803C404D5050C04D507EF04D801200C64",
    "68021CA9C9828723F0000A1B4A10F84907D8372B3615000779C700068761A30129DED7000FBA04021B5BC985",
    "871F74000C169C11EE4905D2372E3618000679C700068761E90129DED4000FBA040219F8C984861B54000817",
    "DE136C4904F83735361B000479C700068762330129DED5000FBA040218D4C984861A580009170E1342490474",
    "373B3622000379C700068762770129DED8000FBA04021783C9848619D4000817AA120E490452373E36250003",
    "79C700068762B70129DED6000FBA04021631C98486198C000817AE11344903FA37423628000279C700068762",
    "F60129DED4000FBA040214D1C984861950000817F610EA4904203745362B000379C700068763320129DED200",
    "0FBA040214D1C984861950000817F610EA4904203745362B000379C700068763320129DED2000FBA040213B1",
    "C986861C40000B182210DA4904B03748362F000379C7000687636A0129DECF000FBA04021263C982861CA000",
    "08183E10C4490538374B3632000379C7000687639E0129DED3000FBA0453",
];

#[test]
fn signature_after_every_body() {
    let f = auto(SIGNED_BODIES);
    assert_eq!(f.dialect, Dialect::SignedBodies);
    assert_eq!(f.software_version, Some(0x11));
    let u = unit(&f);
    assert_eq!(
        (u.collected_at, u.serial, u.signature),
        (at("19-06-03 15:25:59"), 4, None)
    );
    assert_eq!(u.bodies.len(), 2);
    for b in &u.bodies {
        let sig = b.signature.unwrap();
        assert_eq!(
            (sig.r().len(), sig.s().len(), b.collected_at),
            (32, 32, None)
        );
    }
    let Info::Stream(s) = &u.bodies[1].info else {
        panic!("a stream body")
    };
    close(s.engine_rpm(), 874.75);
    close(s.odometer_km(), 1100.5);
}

#[test]
fn serial_after_every_type_byte() {
    let f = auto(BODY_SERIALS);
    assert_eq!(f.dialect, Dialect::BodySerials);
    let u = unit(&f);
    assert_eq!(u.serial, 1);
    assert_eq!(
        u.bodies.iter().map(|b| b.serial).collect::<Vec<_>>(),
        [Some(1), Some(1)]
    );
    let Info::Obd(o) = &u.bodies[0].info else {
        panic!("an OBD body")
    };
    let codes: Vec<String> = o.decoded_dtcs().flatten().map(|d| d.to_string()).collect();
    assert_eq!(
        codes,
        ["P1456", "U2002", "U2062", "U2009", "P2047", "P2455", "U2012"]
    );
    let Info::Stream(s) = &u.bodies[1].info else {
        panic!("a stream body")
    };
    // 0xFEFF is past the 0xFAFF range end: out of range, never a temperature.
    assert_eq!(s.scr_inlet_c(), Err(Absent::OutOfRange));
    assert_eq!(s.dpf_dp_kpa(), Err(Absent::OutOfRange));
    assert_eq!(s.nox_downstream_ppm(), Err(Absent::NotReady));

    let g = auto(BODY_SERIALS_2);
    assert_eq!(g.dialect, Dialect::BodySerials);
    let serials: Vec<_> = unit(&g).bodies.iter().map(|b| b.serial).collect();
    assert_eq!(serials, [Some(0xC4B6), Some(0x5F82)]);
    assert_eq!(unit(&g).serial, 0xC4B6);
}

#[test]
fn serial_after_the_first_type_byte_with_a_gbt32960_header() {
    let f = auto(SERIAL_AFTER_TYPE);
    assert_eq!(
        (f.dialect, f.software_version),
        (Dialect::SerialAfterType, None)
    );
    assert_eq!(f.vin().unwrap().as_str(), "LETYECG28MH055508");
    let u = unit(&f);
    assert_eq!(
        (u.collected_at, u.serial),
        (at("23-02-14 13:33:46"), 0xC8D7)
    );
    assert_eq!(u.streams().count(), 10);
    let first = u.streams().next().unwrap().body;
    close(first.engine_rpm(), 1150.0);
    close(first.scr_inlet_c(), 168.34375);
    close(first.odometer_km(), 103_066.0);
    let Info::Obd(o) = &u.bodies[0].info else {
        panic!("an OBD body")
    };
    assert_eq!(o.vin().unwrap().as_str(), "LETYECG28MH055508");
}

#[test]
fn hj1239_body_times_without_signature_and_a_zero_time() {
    let f = auto(GBT32960_HJ_UNSIGNED);
    assert_eq!(
        (f.dialect, f.software_version),
        (Dialect::Hj1239Unsigned, None)
    );
    assert_eq!(f.vin().unwrap().as_str(), "LETAEEG3XKH921003");
    let u = unit(&f);
    assert_eq!(
        (u.collected_at, u.serial, u.signature),
        (at("20-03-17 18:11:44"), 0x0604, None)
    );
    // The OBD body's time is six zero bytes: absent, for the caller to replace.
    let times: Vec<_> = u.bodies.iter().map(|b| b.collected_at).collect();
    assert_eq!(
        times,
        [
            None,
            Some(at("20-03-17 18:11:44")),
            Some(at("20-03-17 18:11:44"))
        ]
    );
    let Info::Stream(s) = &u.bodies[1].info else {
        panic!("a stream body")
    };
    assert_eq!(s.nox_downstream_ppm(), Err(Absent::Invalid));
    close(s.odometer_km(), 1732.0);
    assert!(
        matches!(&u.bodies[2].info, Info::UserDefined { info_type: 0x80, data } if data.len() == 0x44)
    );
}

#[test]
fn one_body_read_alike_in_three_layouts_is_not_ambiguous() {
    let f = auto(ONE_OBD_BODY);
    assert_eq!(f.dialect, Dialect::Gb17691);
    for d in [Dialect::SerialAfterType, Dialect::BodySerials] {
        let other = decode(&hex(ONE_OBD_BODY), DialectChoice::Fixed(d)).unwrap();
        assert_eq!(unit(&other).bodies[0].info, unit(&f).bodies[0].info);
    }
}

#[test]
fn header_only_commands_in_both_headers() {
    let login = auto(LOGIN);
    assert_eq!(login.command(), Command::Login);
    assert_eq!(login.vin().unwrap().as_str(), "LGDCH91G8KA141269");
    let logout = auto(GBT32960_LOGOUT);
    assert_eq!(
        (logout.command(), logout.software_version),
        (Command::Logout, None)
    );
    assert_eq!(logout.vin().unwrap().as_str(), "JLF00000000000009");
}

#[test]
fn what_stays_rejected() {
    // Encryption 0x02 means SM2 in HJ 1239 and RSA in GB 17691: never guessed.
    let e = decode(&hex(HJ_ENCRYPTION_2), DialectChoice::Auto).unwrap_err();
    assert_eq!(e.reason(), "frame_encrypted");
    // The same frame marked plaintext is an ordinary signed HJ 1239 frame.
    let mut plain = hex(HJ_ENCRYPTION_2);
    plain[21] = PLAINTEXT;
    let n = plain.len() - 1;
    plain[n] = plain[..n].iter().fold(0, |a, b| a ^ b);
    let f = decode(&plain, DialectChoice::Auto).unwrap();
    assert_eq!((f.dialect, unit(&f).bodies.len()), (Dialect::Hj1239, 11));
    let e = decode(&hex(GBT32960_STALE_BCC), DialectChoice::Auto).unwrap_err();
    assert_eq!(e.reason(), "frame_bad_bcc");
}

#[test]
fn every_public_frame_re_encodes_to_its_bytes() {
    for parts in [
        SIGNED_BODIES,
        BODY_SERIALS,
        BODY_SERIALS_2,
        ONE_OBD_BODY,
        LOGIN,
        GBT32960_HJ_UNSIGNED,
        GBT32960_LOGOUT,
        SERIAL_AFTER_TYPE,
    ] {
        assert_eq!(encode(&auto(parts)).unwrap(), hex(parts));
    }
}
