//! What the attributes read: their keys into set-once slots, and the items they sit
//! on, with the signature parsed and the body kept as tokens.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Expr, LitInt, LitStr, Path, Signature, Visibility};

use crate::attr::{self, Dur, Slot};
use crate::ctxt::Ctxt;

/// A function item whose body is kept as tokens (cheap, and its spans survive).
pub(crate) struct ItemFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// The braced body, braces included.
    pub(crate) body: TokenStream,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body = match input.parse::<TokenTree>()? {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => g.into_token_stream(),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected the function's body",
                ));
            }
        };
        Ok(ItemFn {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

impl ToTokens for ItemFn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for attr in &self.attrs {
            attr.to_tokens(tokens);
        }
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.body.to_tokens(tokens);
    }
}

/// An attribute's arguments: one set-once slot per key and the key table that fills
/// them, each key written once (the field's name is the key, unless renamed with
/// `as "key"`), with the parser of its value. `cx`, `m` and `k` name the context,
/// the key's meta and the key's name in each row.
macro_rules! attribute_args {
    (
        $(#[$doc:meta])*
        $args:ident for $attr:literal {
            $( $field:ident $(as $rename:literal)? : $ty:ty = |$cx:ident, $m:ident, $k:ident| $read:expr, )*
        }
    ) => {
        $(#[$doc])*
        pub(crate) struct $args {
            $( pub(crate) $field: Slot<$ty>, )*
            /// Keys suggested for unknown ones: a `timout` typo is not also "needs `timeout`".
            pub(crate) suggested: Vec<&'static str>,
        }

        impl $args {
            pub(crate) fn parse(cx: &Ctxt, args: TokenStream) -> Self {
                let mut out = $args {
                    $( $field: Slot::new(attribute_args!(@key $field $($rename)?)), )*
                    suggested: Vec::new(),
                };
                let table: &[attr::Key<$args>] = &[ $( attr::Key {
                    name: attribute_args!(@key $field $($rename)?),
                    read: |$cx, $m, out| {
                        let $k = attribute_args!(@key $field $($rename)?);
                        let span = $m.path.span_of_ident();
                        let value = $read?;
                        out.$field.set($cx, span, value);
                        Ok(())
                    },
                }, )* ];
                out.suggested = attr::parse_keys(cx, args, $attr, table, &mut out);
                out
            }
        }
    };
    (@key $field:ident $rename:literal) => { $rename };
    (@key $field:ident) => { stringify!($field) };
}

attribute_args! {
    /// `#[service(...)]`.
    ServiceArgs for "service" {
        name: LitStr = |cx, m, k| attr::string(cx, m, k, "\"myservice\""),
        grace: Dur = |cx, m, k| attr::duration(cx, m, k, "\"30s\"", false),
        drain_delay: Dur = |cx, m, k| attr::duration(cx, m, k, "\"10s\"", true),
        probes: Expr = |cx, m, k| attr::expr(m, k, "\"0.0.0.0:8081\"").map(Some),
        signals: Vec<LitStr> = |cx, m, k| attr::strings(cx, m, k, "[\"SIGTERM\", \"SIGINT\"]"),
        on_shutdown: Vec<Path> = |cx, m, k| attr::paths(cx, m, k, "[close_db, flush_telemetry]"),
        logging: syn::LitBool = |cx, m, k| attr::boolean(cx, m, k, "false"),
        flavor: LitStr = |cx, m, k| attr::string(cx, m, k, "\"current_thread\""),
        worker_threads: (u32, LitInt) = |cx, m, k| attr::int_u32(cx, m, k, "4"),
        tell_clients_to_leave: syn::LitBool = |cx, m, k| attr::boolean(cx, m, k, "false"),
        startup_timeout: Dur = |cx, m, k| attr::duration(cx, m, k, "\"1m\"", false),
        krate as "crate": Path = |cx, m, k| attr::crate_path(cx, m, k),
    }
}

attribute_args! {
    /// `#[worker(...)]`.
    WorkerArgs for "worker" {
        every: Dur = |cx, m, k| attr::duration(cx, m, k, "\"5s\"", false),
        stop_timeout: Dur = |cx, m, k| attr::duration(cx, m, k, "\"5s\"", false),
        critical: () = |cx, m, k| attr::flag(cx, m, k),
        name: LitStr = |cx, m, k| attr::string(cx, m, k, "\"cleanup\""),
        bound: LitStr = |cx, m, k| attr::string(cx, m, k, "\"T: Display\""),
        stall: Dur = |cx, m, k| attr::duration(cx, m, k, "\"1m\"", false),
        restart: LitStr = |cx, m, k| attr::string(cx, m, k, "\"on-failure\""),
        max_restarts: (u32, LitInt) = |cx, m, k| attr::int_u32(cx, m, k, "5"),
        restart_window: Dur = |cx, m, k| attr::duration(cx, m, k, "\"10m\"", false),
        backoff: Dur = |cx, m, k| attr::duration(cx, m, k, "\"1s\"", false),
        max_backoff: Dur = |cx, m, k| attr::duration(cx, m, k, "\"1m\"", false),
        krate as "crate": Path = |cx, m, k| attr::crate_path(cx, m, k),
    }
}

attribute_args! {
    /// `#[on_shutdown(...)]`.
    HookArgs for "on_shutdown" {
        order: (u32, LitInt) = |cx, m, k| attr::int_u32(cx, m, k, "1"),
        timeout: Dur = |cx, m, k| attr::duration(cx, m, k, "\"5s\"", false),
        at: LitStr = |cx, m, k| attr::string(cx, m, k, "\"start\""),
        after: Vec<Path> = |cx, m, k| attr::paths(cx, m, k, "[stop_producer, db::flush]"),
        listed_elsewhere: () = |cx, m, k| attr::flag(cx, m, k),
        krate as "crate": Path = |cx, m, k| attr::crate_path(cx, m, k),
    }
}

attribute_args! {
    /// `#[handler(...)]`.
    HandlerArgs for "handler" {
        krate as "crate": Path = |cx, m, k| attr::crate_path(cx, m, k),
    }
}

/// The span of a path's last ident (a key), for errors about that key.
trait SpanOfIdent {
    fn span_of_ident(&self) -> Span;
}

impl SpanOfIdent for Path {
    fn span_of_ident(&self) -> Span {
        self.segments
            .last()
            .map_or_else(Span::call_site, |s| s.ident.span())
    }
}
