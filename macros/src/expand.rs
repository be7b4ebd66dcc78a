//! Code generation only: every rule was checked before. Generated code names nothing
//! but `::core` and `::winddown::__private` (under the user's `crate = ".."` path when
//! given), and carries the user's spans where an
//! error may land.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Path, ReturnType, Type};

use crate::ast::ItemFn;
use crate::valid;

/// `fn main() { async fn setup(..) {..}  checks;  Service::builder(..)...run_and_exit(..) }`
pub(crate) fn service(svc: valid::Service, item: ItemFn) -> TokenStream {
    let Main {
        attrs,
        vis,
        outer,
        setup,
        inner: setup_fn,
    } = Main::split(item);
    let p = private(&svc.krate);

    let aliases: Vec<_> = (0..svc.hooks.len())
        .map(|i| format_ident!("__winddown_hook_{}", i))
        .collect();
    let alias_defs = svc.hooks.iter().zip(&aliases).map(|(path, alias)| {
        quote_spanned! {path.span()=>
            #[allow(non_camel_case_types)]
            type #alias = #path;
        }
    });
    let order_impls = svc.hooks.iter().zip(&aliases).enumerate().map(|(i, (path, alias))| {
        // The last segment: `close_db` in `db::close_db` is what the error should show.
        let span = path
            .segments
            .last()
            .map_or_else(|| path.span(), |s| s.ident.span());
        let i = i as u64;
        quote_spanned! {span=>
            impl #p::HookOrderMustBeUnique<{ #p::order_slot(<#alias as #p::HookMeta>::ORDER, #i) }> for OnShutdown {}
        }
    });
    let grace = match svc.grace_ms {
        Some(ms) => quote!(#ms),
        None => quote!(#p::DEFAULT_GRACE_MS),
    };
    let drain = svc.drain_ms.unwrap_or(0);
    // The graph, checked in `const` evaluation: each hook's problem at its path, the
    // budget (critical path) at the `on_shutdown` key.
    let nodes = aliases.iter().map(|a| quote!(#p::node::<#a>()));
    let graph_checks = svc.hooks.iter().enumerate().map(|(i, path)| {
        // At the last segment (`close` in `db::close`): the message names the path.
        let last = path
            .segments
            .last()
            .map_or_else(|| path.span(), |s| s.ident.span());
        quote_spanned! {last=>
            const _: () = {
                let verdict = #p::hook_problem(__WINDDOWN_HOOKS, #i);
                if verdict.failed() {
                    ::core::panic!("{}", verdict.as_str());
                }
            };
        }
    });
    let budget = quote_spanned! {svc.hooks_span=>
        const _: () = {
            let verdict = #p::budget(#grace, #drain, __WINDDOWN_HOOKS);
            if verdict.failed() {
                ::core::panic!("{}", verdict.as_str());
            }
        };
    };
    // Every listed hook is marked listed, for this service's own marker type: a hook
    // no service lists fails its own check.
    let listed = svc.hooks.iter().zip(&aliases).map(|(path, alias)| {
        quote_spanned! {path.span()=>
            impl #p::Listed<ListedBy> for #alias {}
        }
    });

    let name = &svc.name;
    let state = match &svc.state {
        Some(ty) => quote!(#ty),
        None => quote!(_),
    };
    let grace_call = svc
        .grace_ms
        .map(|ms| quote!(.grace(#p::Duration::from_millis(#ms))));
    let drain_call = svc
        .drain_ms
        .map(|ms| quote!(.drain_delay(#p::Duration::from_millis(#ms))));
    let probes_call = svc
        .probes
        .as_ref()
        .map(|e| quote_spanned!(e.span()=> .probes(#e)));
    let signals_call = svc.signals.as_ref().map(|list| {
        let variants = list.iter().map(|(v, span)| {
            let v = syn::Ident::new(v, *span);
            quote!(#p::Signal::#v)
        });
        quote!(.signals([#(#variants),*]))
    });
    let hook_calls = svc.hooks.iter().zip(&aliases).map(|(path, a)| {
        quote_spanned! {path.span()=>
            let __winddown_builder = #p::add_hook::<_, #a, _>(__winddown_builder, #path);
        }
    });
    let call = if svc.takes_service {
        quote!(#setup(__winddown_svc).await)
    } else {
        quote!({ let _ = __winddown_svc; #setup().await })
    };
    let result = if svc.returns_result {
        call
    } else {
        quote!(::core::result::Result::Ok::<_, ::core::convert::Infallible>(#call))
    };

    let logging_call = svc.logging.map(|on| quote!(.logging(#on)));
    let leave_call = svc
        .tell_clients_to_leave
        .map(|tell| quote!(.tell_clients_to_leave(#tell)));
    let flavor_call = svc.current_thread.map(|current| {
        let flavor = if current {
            quote!(CurrentThread)
        } else {
            quote!(MultiThread)
        };
        quote!(.flavor(#p::Flavor::#flavor))
    });
    let startup_call = svc
        .startup_timeout_ms
        .map(|ms| quote!(.startup_timeout(#p::Duration::from_millis(#ms))));
    let threads_call = svc
        .worker_threads
        .map(|n| quote!(.worker_threads(#n as usize)));

    let checks_and_builder = quote! {
        #(#alias_defs)*
        const _: () = {
            struct OnShutdown;
            #(#order_impls)*
            struct ListedBy;
            #(#listed)*
        };
        const __WINDDOWN_HOOKS: &[#p::Node<'static>] = &[#(#nodes),*];
        #(#graph_checks)*
        #budget
        let __winddown_builder = #p::Service::builder::<#state>(#name)
            #grace_call
            #drain_call
            #probes_call
            #signals_call
            #logging_call
            #flavor_call
            #threads_call
            #leave_call
            #startup_call
            // The deployment's WINDDOWN_GRACE / WINDDOWN_DRAIN_DELAY win at start.
            .from_env();
        #(#hook_calls)*
    };
    let setup_closure = quote!(|__winddown_svc: #p::Service| async move { #result });
    match &svc.state {
        // The state type is known: the configuration is a fn of its own, so tests can
        // check it (a Kubernetes manifest against it, say), and `main` runs it.
        Some(state) => {
            // Tests anywhere in the crate may check it: at least crate-visible.
            let config_vis = match &vis {
                syn::Visibility::Inherited => quote!(pub(crate)),
                other => quote!(#other),
            };
            let doc = format!(
                "The configuration of the `{}` service, as `#[service]` on `{outer}` declares it \
                 (checked: `Err` says what is wrong).",
                svc.name.value()
            );
            quote! {
                #[doc = #doc]
                #config_vis fn service_config() -> ::core::result::Result<#p::Config<#state>, #p::ConfigError> {
                    #checks_and_builder
                    __winddown_builder.build()
                }

                #(#attrs)*
                #vis fn #outer() {
                    #setup_fn
                    #p::run_config(#name, service_config(), #setup_closure)
                }
            }
        }
        None => quote! {
            #(#attrs)*
            #vis fn #outer() {
                #setup_fn
                #checks_and_builder
                __winddown_builder.run_and_exit(#setup_closure)
            }
        },
    }
}

/// The fallback of `#[service]`: the body still type-checks inside a plain `fn`, so
/// the real error is not buried under "`main` cannot be async".
pub(crate) fn service_fallback(item: ItemFn, hooks: &[Path], krate: &Path) -> TokenStream {
    let Main {
        attrs,
        vis,
        outer,
        inner,
        ..
    } = Main::split(item);
    let p = private(krate);
    // Each path once: a hook listed twice is already reported.
    let mut seen = std::collections::HashSet::new();
    let hooks = hooks
        .iter()
        .filter(|path| seen.insert(path.to_token_stream().to_string()));
    let listed = hooks.map(|path| {
        quote_spanned! {path.span()=>
            impl #p::Listed<ListedBy> for #path {}
        }
    });
    quote! {
        #(#attrs)*
        #vis fn #outer() {
            const _: () = {
                struct ListedBy;
                #(#listed)*
            };
            #[allow(dead_code)]
            #inner
        }
    }
}

/// `#[service]`'s fn, split: the outer `fn main()` keeps the attributes, visibility
/// and name; the user's async fn lives on inside it as `__winddown_setup`.
struct Main {
    attrs: Vec<syn::Attribute>,
    vis: syn::Visibility,
    outer: syn::Ident,
    setup: syn::Ident,
    inner: TokenStream,
}

impl Main {
    fn split(item: ItemFn) -> Self {
        let ItemFn {
            attrs,
            vis,
            sig,
            body,
        } = item;
        let setup = format_ident!("__winddown_setup", span = sig.ident.span());
        let mut inner_sig = sig.clone();
        inner_sig.ident = setup.clone();
        Main {
            attrs,
            vis,
            outer: sig.ident,
            setup,
            inner: quote!(#inner_sig #body),
        }
    }
}

/// The item, its `TickBody`/`RunBody` adapter and its `IntoWorker` impl.
pub(crate) fn worker(w: valid::Worker<'_>) -> TokenStream {
    let p = private(&w.krate);
    let item = w.item;
    let ident = &item.ident;
    let (ig, tg, wc) = w.generics.split_for_impl();
    let name = &w.name;
    let stop = match w.stop_ms {
        Some(ms) => quote!(#ms),
        None => quote!(#p::DEFAULT_STOP_TIMEOUT_MS),
    };
    let critical = w.critical;
    let outcome = quote!(::core::result::Result<(), #p::String>);
    let (adapter, build) = match w.every_ms {
        Some(every) => {
            let call = quote_spanned!(w.every_span.unwrap_or_else(Span::call_site)=>
                #p::IntoOutcome::into_outcome(Self::tick(self).await));
            (
                quote! {
                    impl #ig #p::TickBody for #ident #tg #wc {
                        fn __winddown_tick(&mut self) -> impl ::core::future::Future<Output = #outcome> + ::core::marker::Send {
                            async move { #call }
                        }
                    }
                },
                quote!(#p::periodic(self, #name, #every, #stop, #critical)),
            )
        }
        None => {
            // At the attribute: a missing `run` is reported where `#[worker]` is.
            let call = quote_spanned!(Span::call_site()=>
                #p::IntoOutcome::into_outcome(Self::run(self, quit).await));
            (
                quote! {
                    impl #ig #p::RunBody for #ident #tg #wc {
                        fn __winddown_run(&mut self, quit: #p::Quit) -> impl ::core::future::Future<Output = #outcome> + ::core::marker::Send {
                            async move { #call }
                        }
                    }
                },
                quote!(#p::run_loop(self, #name, #stop, #critical)),
            )
        }
    };
    let stall = w
        .stall_ms
        .map(|ms| quote!(.stall(#p::Duration::from_millis(#ms))));
    let restart = w.restart.as_ref().map(|r| {
        let (first, max) = (r.backoff_ms, r.max_backoff_ms);
        let limit = r.max_restarts.map(|n| quote!(.max_restarts(#n)));
        let window = r
            .window_ms
            .map(|ms| quote!(.within(#p::Duration::from_millis(#ms))));
        quote!(.restart(#p::Restart::on_failure()
            .backoff(#p::Duration::from_millis(#first), #p::Duration::from_millis(#max))
            #limit #window))
    });
    quote! {
        #item
        #adapter
        impl #ig #p::IntoWorker for #ident #tg #wc {
            fn into_worker(self) -> #p::Worker {
                #build #stall #restart
            }
        }
    }
}

/// The fn as written, plus its companion: a braced struct of the same name (types
/// and values live in different namespaces) carrying its path, order, timeout and
/// the hooks it runs after; and, unless `listed_elsewhere`, a check that some
/// `#[service]` lists it.
pub(crate) fn hook(h: valid::Hook, item: ItemFn) -> TokenStream {
    let p = private(&h.krate);
    let output_check = match &item.sig.output {
        ReturnType::Type(_, ty) if !mentions_impl_or_self(ty) => Some(quote_spanned! {ty.span()=>
            const _: fn() = #p::assert_outcome::<#ty>;
        }),
        _ => None,
    };
    let ident = &item.sig.ident;
    let listed_check = (!h.listed_elsewhere).then(|| {
        quote_spanned! {ident.span()=>
            const _: () = #p::assert_listed::<#ident, _>();
        }
    });
    let companion = companion(&item, &h);
    quote! {
        #item
        #companion
        #output_check
        #listed_check
    }
}

/// The companion struct and its `HookMeta`.
fn companion(item: &ItemFn, h: &valid::Hook) -> TokenStream {
    let p = private(&h.krate);
    let ident = &item.sig.ident;
    let vis = &item.vis;
    let name = format!("::{ident}");
    let order = match h.order {
        Some(o) => quote!(::core::option::Option::Some(#o)),
        None => quote!(::core::option::Option::None),
    };
    let timeout = h.timeout_ms;
    let at_start = h.at_start;
    let after = h.after.iter().map(|path| {
        // A qualified path, as `on_shutdown = [..]` names hooks: a plain fn is then
        // "expected type, found function", the same message the service gives.
        quote_spanned! {path.span()=>
            #p::Dep {
                id: <#path as #p::HookMeta>::ID,
                name: <#path as #p::HookMeta>::NAME,
            }
        }
    });
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #ident {}
        impl #p::HookMeta for #ident {
            const ID: &'static str = ::core::concat!(::core::module_path!(), #name);
            const NAME: &'static str = #p::strip_crate(<Self as #p::HookMeta>::ID);
            const ORDER: ::core::option::Option<u32> = #order;
            const TIMEOUT_MS: u64 = #timeout;
            const AT_START: bool = #at_start;
            const AFTER: &'static [#p::Dep<'static>] = &[#(#after),*];
        }
    }
}

/// The fallback of `#[on_shutdown]`: the fn and a companion with what could be read,
/// so a service listing the hook shows no follow-on error. A method or an associated
/// fn (already reported) gets no companion: a struct cannot live in an impl block.
pub(crate) fn hook_fallback(item: ItemFn, krate: Path) -> TokenStream {
    if valid::is_associated(&item.sig) {
        return item.into_token_stream();
    }
    let placeholder = valid::Hook {
        order: None,
        timeout_ms: 1,
        at_start: false,
        after: Vec::new(),
        listed_elsewhere: true,
        krate,
    };
    let companion = companion(&item, &placeholder);
    quote! {
        #item
        #companion
    }
}

fn mentions_impl_or_self(ty: &Type) -> bool {
    let text = ty.to_token_stream().to_string();
    text.contains("impl ")
        || text
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|w| w == "Self")
}

/// The fn with its body run through `handle`: counted in flight, refused once
/// intake has closed.
pub(crate) fn handler(h: valid::Handler, item: ItemFn) -> TokenStream {
    let p = private(&h.krate);
    let ret = h.ret;
    let ItemFn {
        attrs,
        vis,
        sig,
        body,
        ..
    } = item;
    // The output type flows from the signature into `handle` and on into the async
    // block (so `?` infers). Every generated token carries the return type's span, so
    // a return type `handle` refuses is reported once, there.
    let span = ret.span();
    let block = quote_spanned!(span=> { #p::handle(async move #body).await });
    quote! {
        #(#attrs)*
        #vis #sig #block
    }
}

/// The module the expansion names, under the user's `crate = ".."` path or `::winddown`.
fn private(krate: &Path) -> TokenStream {
    quote!(#krate::__private)
}

/// The fallback of `#[worker]`: the item and an `IntoWorker` impl that is never run
/// (the crate does not compile), so `spawn_worker(..)` shows no follow-on error.
pub(crate) fn worker_fallback(item: &syn::Item, krate: &Path) -> TokenStream {
    let p = private(krate);
    let (ident, generics) = match item {
        syn::Item::Struct(s) => (&s.ident, &s.generics),
        syn::Item::Enum(e) => (&e.ident, &e.generics),
        _ => return item.to_token_stream(),
    };
    let (ig, tg, wc) = generics.split_for_impl();
    quote! {
        #item
        impl #ig #p::IntoWorker for #ident #tg #wc {
            fn into_worker(self) -> #p::Worker {
                ::core::unreachable!("#[worker] reported an error: this crate does not compile")
            }
        }
    }
}
