//! Property tests: the duration grammar and every attribute parser, fed arbitrary
//! input, never panic, and every rejection is a message a user can act on.

use proptest::prelude::*;

use crate::ast::{HookArgs, ServiceArgs, WorkerArgs};
use crate::ctxt::Ctxt;
use crate::duration::parse_ms;

fn format_ms(mut ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Token soup from the attributes' own vocabulary, plus noise.
fn attribute_args() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("name".to_owned()),
        Just("grace".to_owned()),
        Just("drain_delay".to_owned()),
        Just("probes".to_owned()),
        Just("signals".to_owned()),
        Just("on_shutdown".to_owned()),
        Just("every".to_owned()),
        Just("stop_timeout".to_owned()),
        Just("critical".to_owned()),
        Just("order".to_owned()),
        Just("timeout".to_owned()),
        Just("at".to_owned()),
        Just("=".to_owned()),
        Just(",".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("::".to_owned()),
        Just("-".to_owned()),
        "[a-z_]{1,8}",
        "[0-9]{1,25}",
        "\"[0-9hms. a-zA-Z:]{0,10}\"",
    ];
    prop::collection::vec(token, 0..16).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_parses_or_says_why(text in "[0-9hms .,dx-]{0,14}") {
        match parse_ms(&text) {
            Ok(ms) => prop_assert_eq!(parse_ms(&format_ms(ms)), Ok(ms)),
            Err(msg) => {
                let prefix = format!("invalid duration \"{text}\": ");
                prop_assert!(msg.starts_with(&prefix), "{}", msg);
                prop_assert!(msg.ends_with("e.g. \"1m30s\" or \"250ms\""), "{}", msg);
            }
        }
    }

    #[test]
    fn well_formed_durations_round_trip(h in 0u64..1000, m in 0u64..60, s in 0u64..60, ms in 0u64..1000) {
        let total = ((h * 60 + m) * 60 + s) * 1000 + ms;
        prop_assert_eq!(parse_ms(&format_ms(total)), Ok(total));
    }

    #[test]
    fn attribute_parsers_never_panic_and_explain_every_rejection(args in attribute_args()) {
        let Ok(tokens) = args.parse::<proc_macro2::TokenStream>() else { return Ok(()) };
        for parse in [
            (|cx: &Ctxt, t| { ServiceArgs::parse(cx, t); }) as fn(&Ctxt, proc_macro2::TokenStream),
            |cx, t| { WorkerArgs::parse(cx, t); },
            |cx, t| { HookArgs::parse(cx, t); },
        ] {
            let cx = Ctxt::new();
            parse(&cx, tokens.clone());
            if let Err(errors) = cx.check() {
                for e in errors {
                    let msg = e.to_string();
                    prop_assert!(msg.len() > 10, "a terse error for {}: {}", args, msg);
                }
            }
        }
    }
}
