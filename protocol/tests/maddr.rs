//! Addresses as multiaddrs and other text (spec/SCENARIOS.md `maddr-*`):
//! the protocol tables, encoding, parsing and endpoint tables.

use proptest::prelude::*;
use tractor_protocol::{
    AddrParseError, Address, EndpointSpec, MADDR_PROTOCOLS, maddr_protocol, parse_endpoints,
    transport_of_maddr_protocol,
};

#[test]
fn maddr_proto_map() {
    assert_eq!(MADDR_PROTOCOLS.len(), 2);
    assert_eq!(maddr_protocol("tcp"), Ok("tcp"));
    assert_eq!(maddr_protocol("uds"), Ok("unix"));
    // An exact inverse.
    for (transport, protocol) in MADDR_PROTOCOLS {
        assert_eq!(maddr_protocol(transport), Ok(protocol));
        assert_eq!(transport_of_maddr_protocol(protocol), Ok(transport));
    }
    assert_eq!(
        maddr_protocol("udp"),
        Err(AddrParseError::UnsupportedTransport("udp".into()))
    );
    assert!(transport_of_maddr_protocol("uds").is_err());
    // Each kind of address names its transport, and that one's protocol
    // heads... the protocol part of its multiaddr.
    for addr in [Address::tcp("127.0.0.1", 1), Address::uds("/tmp", "a.sock")] {
        let protocol = maddr_protocol(addr.transport()).unwrap();
        assert!(
            addr.to_maddr().contains(&format!("/{protocol}/")),
            "{addr:#}"
        );
    }
}

#[test]
fn maddr_encode() {
    let v4 = Address::tcp("127.0.0.1", 1234);
    let v6 = Address::tcp("::1", 5678);
    let uds = Address::uds("/tmp/tractor_test", "test_sock.sock");
    assert_eq!(v4.to_maddr(), "/ip4/127.0.0.1/tcp/1234");
    assert_eq!(format!("{v6:#}"), "/ip6/::1/tcp/5678");
    assert_eq!(uds.to_maddr(), "/unix/tmp/tractor_test/test_sock.sock");
    assert!(!uds.to_maddr().contains("//"));
    // A trailing slash on the directory changes nothing.
    assert_eq!(
        Address::uds("/tmp/tractor_test/", "test_sock.sock").to_maddr(),
        uds.to_maddr()
    );
    // A host name is a `dns` host.
    assert_eq!(
        Address::tcp("localhost", 1616).to_maddr(),
        "/dns/localhost/tcp/1616"
    );
    for addr in [v4, v6, uds, Address::tcp("localhost", 1616)] {
        assert_eq!(addr.to_maddr().parse::<Address>(), Ok(addr.clone()));
    }
    // The plain form is unchanged.
    assert_eq!(Address::tcp("::1", 5678).to_string(), "[::1]:5678");
}

#[test]
fn maddr_parse() {
    let tcp: Address = "/ip4/10.0.0.7/tcp/1616".parse().unwrap();
    assert_eq!(tcp, Address::tcp("10.0.0.7", 1616));
    assert_eq!(
        "/ip6/::1/tcp/65535".parse::<Address>(),
        Ok(Address::tcp("::1", 65535))
    );
    let uds: Address = "/unix/tmp/x/test.sock".parse().unwrap();
    assert_eq!(uds, Address::uds("/tmp/x", "test.sock"));
    assert_eq!(
        "/unix/a.sock".parse::<Address>(),
        Ok(Address::uds("/", "a.sock"))
    );
    assert_eq!(
        "/dns4/example.org/tcp/80".parse::<Address>(),
        Ok(Address::tcp("example.org", 80))
    );
    // Not a transport of ours.
    assert_eq!(
        "/ip4/127.0.0.1/udp/1616".parse::<Address>(),
        Err(AddrParseError::UnsupportedCombo(
            "/ip4/127.0.0.1/udp/1616".into()
        ))
    );
    assert!(matches!(
        "/ip4/127.0.0.1/tcp/1616/p2p/Qm".parse::<Address>(),
        Err(AddrParseError::UnsupportedCombo(_))
    ));
    assert!(matches!(
        "/quic/1".parse::<Address>(),
        Err(AddrParseError::UnsupportedProtocol(_))
    ));
    // Wrong hosts and ports, and missing parts, each named.
    assert!(matches!(
        "/ip4/::1/tcp/1".parse::<Address>(),
        Err(AddrParseError::BadHost {
            protocol: "ip4",
            ..
        })
    ));
    assert!(matches!(
        "/ip6/127.0.0.1/tcp/1".parse::<Address>(),
        Err(AddrParseError::BadHost {
            protocol: "ip6",
            ..
        })
    ));
    for port in ["65536", "-1", "+1", "", "x"] {
        let text = format!("/ip4/127.0.0.1/tcp/{port}");
        let got = text.parse::<Address>();
        assert!(
            matches!(
                got,
                Err(AddrParseError::BadPort(_)) | Err(AddrParseError::Incomplete { .. })
            ),
            "{text}: {got:?}"
        );
    }
    for text in ["/ip4/127.0.0.1", "/ip4", "/unix/", "/unix/tmp/", ""] {
        assert!(text.parse::<Address>().is_err(), "{text}");
    }
    assert_eq!("".parse::<Address>(), Err(AddrParseError::Empty));
    // The other text forms.
    assert_eq!(
        "127.0.0.1:1616".parse::<Address>(),
        Ok(Address::tcp("127.0.0.1", 1616))
    );
    assert_eq!(
        "localhost:1616".parse::<Address>(),
        Ok(Address::tcp("localhost", 1616))
    );
    assert_eq!(
        "[::1]:1616".parse::<Address>(),
        Ok(Address::tcp("::1", 1616))
    );
    assert_eq!(
        "/run/user/1000/tractor/registry@1616.sock".parse::<Address>(),
        Ok(Address::uds("/run/user/1000/tractor", "registry@1616.sock"))
    );
    assert!(matches!(
        "::1:1616".parse::<Address>(),
        Err(AddrParseError::Incomplete { .. })
    ));
    assert!(Address::try_from("nonsense").is_err());
    // Errors read as sentences naming the culprit.
    let e = "/ip4/127.0.0.1/udp/1".parse::<Address>().unwrap_err();
    assert!(e.to_string().contains("udp"), "{e}");
}

#[test]
fn maddr_endpoint_table() {
    let table = parse_endpoints([
        (
            "registry",
            vec![
                EndpointSpec::from("/ip4/127.0.0.1/tcp/1616"),
                EndpointSpec::from("/unix/tmp/x/registry@1616.sock"),
                EndpointSpec::from(("127.0.0.1", 1617)),
            ],
        ),
        ("idle", vec![]),
    ])
    .unwrap();
    assert_eq!(
        table["registry"],
        [
            Address::tcp("127.0.0.1", 1616),
            Address::uds("/tmp/x", "registry@1616.sock"),
            Address::tcp("127.0.0.1", 1617),
        ]
    );
    assert!(table["idle"].is_empty());
    let empty: Vec<(String, Vec<EndpointSpec>)> = Vec::new();
    assert!(parse_endpoints(empty).unwrap().is_empty());
    assert!(matches!(
        parse_endpoints([("x", vec![EndpointSpec::from("/ip4/1.2.3.4/udp/1")])]),
        Err(AddrParseError::UnsupportedCombo(_))
    ));
    // From a configuration file: strings and [host, port] pairs mixed.
    let parsed: std::collections::BTreeMap<String, Vec<EndpointSpec>> =
        serde_json::from_str(r#"{"reg": ["/ip6/::1/tcp/1616", ["127.0.0.1", 1616]], "none": []}"#)
            .unwrap();
    let table = parse_endpoints(parsed).unwrap();
    assert_eq!(
        table["reg"],
        [Address::tcp("::1", 1616), Address::tcp("127.0.0.1", 1616)]
    );
    assert!(table["none"].is_empty());
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| {
            Address::tcp(std::net::Ipv4Addr::from(ip).to_string(), port)
        }),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| {
            Address::tcp(std::net::Ipv6Addr::from(ip).to_string(), port)
        }),
        (
            prop::collection::vec("[a-zA-Z0-9_.@-]{1,12}", 0..4),
            "[a-zA-Z0-9_.@-]{1,16}"
        )
            .prop_filter("not dot-only names", |(dir, file)| {
                dir.iter().chain([file]).all(|s| s != "." && s != "..")
            })
            .prop_map(|(dir, file)| Address::uds(format!("/{}", dir.join("/")), file)),
    ]
}

proptest! {
    #[test]
    fn every_address_round_trips_through_its_multiaddr(addr in address()) {
        prop_assert_eq!(addr.to_maddr().parse::<Address>(), Ok(addr.clone()));
    }

    #[test]
    fn any_text_parses_or_fails_cleanly(text in "\\PC{0,40}") {
        // Never a panic; an error always has words.
        if let Err(e) = text.parse::<Address>() {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn maddr_shaped_text_parses_or_fails_cleanly(
        parts in prop::collection::vec(
            prop_oneof![
                Just("ip4".to_owned()), Just("ip6".to_owned()), Just("tcp".to_owned()),
                Just("unix".to_owned()), Just("udp".to_owned()), Just(String::new()),
                "[0-9a-f:.]{0,10}",
            ],
            0..6,
        )
    ) {
        let text = format!("/{}", parts.join("/"));
        if let Ok(addr) = text.parse::<Address>() {
            // Whatever parses writes back to an equal address.
            prop_assert_eq!(addr.to_maddr().parse::<Address>(), Ok(addr.clone()));
        }
    }
}
