//! Keys and values of the attributes: one typed parser per kind of value, a set-once
//! slot per key, and unknown keys answered with the nearest valid one.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Path, Token};

use crate::ctxt::Ctxt;
use crate::duration;

/// A key's value, set at most once; a second setting is reported at its key.
pub(crate) struct Slot<T> {
    key: &'static str,
    value: Option<(T, Span)>,
    /// Given at all, even with a value that was refused (and reported).
    seen: bool,
}

impl<T> Slot<T> {
    pub(crate) fn new(key: &'static str) -> Self {
        Slot {
            key,
            value: None,
            seen: false,
        }
    }

    pub(crate) fn set(&mut self, cx: &Ctxt, span: Span, value: Option<T>) {
        let seen = std::mem::replace(&mut self.seen, true);
        if seen {
            cx.error(
                span,
                format_args!("duplicate key `{}`: give it once", self.key),
            );
        } else if let Some(value) = value {
            self.value = Some((value, span));
        }
    }

    /// Whether the key was given, valid or not: a missing key is reported only if not.
    pub(crate) fn seen(&self) -> bool {
        self.seen
    }

    pub(crate) fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(v, _)| v)
    }

    /// The span of the key, where it was given.
    pub(crate) fn span(&self) -> Option<Span> {
        self.value.as_ref().map(|(_, s)| *s)
    }

    pub(crate) fn take(self) -> Option<T> {
        self.value.map(|(v, _)| v)
    }
}

/// A duration literal with its value in milliseconds.
#[derive(Clone)]
pub(crate) struct Dur {
    pub(crate) ms: u64,
    pub(crate) lit: LitStr,
}

/// One row of an attribute's key table: the key, and how its value is read into
/// the attribute's slots.
pub(crate) struct Key<A> {
    pub(crate) name: &'static str,
    pub(crate) read: fn(&Ctxt, &ParseNestedMeta<'_>, &mut A) -> syn::Result<()>,
}

/// Parses the attribute's arguments into `out`, each known key through its row of
/// `table`. Unknown keys, keys that are paths and syntax errors are reported;
/// parsing goes on past every error it can. Returns the keys suggested for unknown
/// ones (`timeout` for `timout`), so a missing-key check does not report the typo twice.
pub(crate) fn parse_keys<A>(
    cx: &Ctxt,
    args: TokenStream,
    attr: &str,
    table: &[Key<A>],
    out: &mut A,
) -> Vec<&'static str> {
    let known: Vec<&'static str> = table.iter().map(|k| k.name).collect();
    let suggested = std::cell::RefCell::new(Vec::new());
    let parser = syn::meta::parser(|meta| {
        let Some(ident) = meta.path.get_ident() else {
            cx.error_spanned(
                &meta.path,
                format_args!("expected a key of #[{attr}], one of: {}", known.join(", ")),
            );
            return skip_value(&meta);
        };
        let name = ident.to_string();
        match table.iter().find(|k| k.name == name) {
            Some(key) => (key.read)(cx, &meta, out),
            None => {
                let hint = match nearest(&name, &known) {
                    Some(near) => {
                        suggested.borrow_mut().push(near);
                        format!("did you mean `{near}`? ")
                    }
                    None => String::new(),
                };
                cx.error(
                    ident.span(),
                    format_args!(
                        "unknown key `{name}` for #[{attr}]: {hint}valid keys are {}",
                        known.join(", ")
                    ),
                );
                skip_value(&meta)
            }
        }
    });
    if let Err(e) = parser.parse2(args) {
        cx.syn_error(e);
    }
    suggested.into_inner()
}

fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip_value(&inner))?;
    }
    Ok(())
}

/// The known key closest to `name`, if it is close enough to be a typo.
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != *cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The expression after `key =`; a missing `=` says what to write.
fn value(meta: &ParseNestedMeta<'_>, key: &str, example: &str) -> syn::Result<Expr> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format_args!(
            "`{key}` needs a value: write `{key} = {example}`"
        )));
    }
    meta.value()?.parse()
}

fn wrong_kind(cx: &Ctxt, value: &Expr, key: &str, kind: &str, example: &str) {
    cx.error_spanned(
        value,
        format_args!("`{key}` takes {kind}: write `{key} = {example}`"),
    );
}

/// `key = "text"`.
pub(crate) fn string(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
) -> syn::Result<Option<LitStr>> {
    let expr = value(meta, key, example)?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(Some(s)),
        other => {
            wrong_kind(cx, &other, key, "a string literal", example);
            Ok(None)
        }
    }
}

/// `crate = "path"`: where winddown is, for a renamed or re-exported crate.
pub(crate) fn crate_path(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
) -> syn::Result<Option<Path>> {
    let Some(lit) = string(cx, meta, key, "\"::my_winddown\"")? else {
        return Ok(None);
    };
    match lit.parse_with(Path::parse_mod_style) {
        Ok(path) => Ok(Some(path)),
        Err(_) => {
            cx.error_spanned(
                &lit,
                format_args!(
                    "`crate` takes the path winddown is reachable at, e.g. `crate = \"::my_winddown\"`, not \"{}\"",
                    lit.value()
                ),
            );
            Ok(None)
        }
    }
}

/// `key = "1m30s"`, checked against the grammar; zero is refused unless `zero_ok`.
pub(crate) fn duration(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
    zero_ok: bool,
) -> syn::Result<Option<Dur>> {
    let expr = value(meta, key, example)?;
    let lit = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => s,
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => {
            cx.error_spanned(
                &i,
                format_args!(
                    "`{key}` takes a duration string with a unit: write `{key} = \"{}s\"` or `{key} = \"{}ms\"`",
                    i.base10_digits(),
                    i.base10_digits()
                ),
            );
            return Ok(None);
        }
        other => {
            wrong_kind(cx, &other, key, "a duration string", example);
            return Ok(None);
        }
    };
    match duration::parse_ms(&lit.value()) {
        Ok(0) if !zero_ok => {
            cx.error_spanned(
                &lit,
                format_args!(
                    "`{key}` cannot be zero: write a positive duration, e.g. `{key} = {example}`"
                ),
            );
            Ok(None)
        }
        Ok(ms) => Ok(Some(Dur { ms, lit })),
        Err(msg) => {
            cx.error_spanned(&lit, msg);
            Ok(None)
        }
    }
}

/// `key = 3`, a whole number that fits in `u32`.
pub(crate) fn int_u32(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
) -> syn::Result<Option<(u32, LitInt)>> {
    let expr = value(meta, key, example)?;
    let lit = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i,
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => {
            cx.error_spanned(
                &u,
                format_args!(
                    "`{key}` cannot be negative: write a whole number from 0 to {}",
                    u32::MAX
                ),
            );
            return Ok(None);
        }
        other => {
            wrong_kind(cx, &other, key, "a whole number", example);
            return Ok(None);
        }
    };
    match lit.base10_parse::<u32>() {
        Ok(n) => Ok(Some((n, lit))),
        Err(_) => {
            cx.error_spanned(
                &lit,
                format_args!("`{key}` must be a whole number from 0 to {}", u32::MAX),
            );
            Ok(None)
        }
    }
}

/// `key = [a, path::to::b]`.
pub(crate) fn paths(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
) -> syn::Result<Option<Vec<Path>>> {
    let expr = value(meta, key, example)?;
    let Expr::Array(array) = expr else {
        if let Expr::Path(p) = &expr {
            cx.error_spanned(
                &expr,
                format_args!(
                    "`{key}` takes a list: write `{key} = [{}]`",
                    p.to_token_stream()
                ),
            );
            // Reported, and still read as the list it means, so the hook it names
            // shows no follow-on error.
            if p.qself.is_none() {
                return Ok(Some(vec![p.path.clone()]));
            }
        } else {
            wrong_kind(cx, &expr, key, "a list of function paths", example);
        }
        return Ok(None);
    };
    let mut out = Vec::new();
    for elem in array.elems {
        match elem {
            Expr::Path(p) if p.qself.is_none() => out.push(p.path),
            other => cx.error_spanned(
                &other,
                format_args!("`{key}` lists the paths of #[on_shutdown] functions, e.g. `close_db` or `db::close_db`"),
            ),
        }
    }
    Ok(Some(out))
}

/// `key = ["A", "B"]`.
pub(crate) fn strings(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
) -> syn::Result<Option<Vec<LitStr>>> {
    let expr = value(meta, key, example)?;
    let Expr::Array(array) = expr else {
        wrong_kind(cx, &expr, key, "a list of strings", example);
        return Ok(None);
    };
    let mut out = Vec::new();
    for elem in array.elems {
        match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => out.push(s),
            other => wrong_kind(cx, &other, key, "a list of strings", example),
        }
    }
    Ok(Some(out))
}

/// `key = true` or `key = false`.
pub(crate) fn boolean(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
) -> syn::Result<Option<syn::LitBool>> {
    let expr = value(meta, key, example)?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(Some(b)),
        other => {
            wrong_kind(cx, &other, key, "`true` or `false`", example);
            Ok(None)
        }
    }
}

/// A bare `key`; `key = …` is refused.
pub(crate) fn flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Option<()>> {
    if meta.input.peek(Token![=]) {
        let value = meta.value()?.parse::<Expr>()?;
        cx.error_spanned(
            &value,
            format_args!(
                "`{key}` is a flag and takes no value: write `{key}` alone, or leave it out"
            ),
        );
        return Ok(None);
    }
    Ok(Some(()))
}

/// `key = "literal"` or `key = expression`, for values that may come from the
/// environment at start-up.
pub(crate) fn expr(meta: &ParseNestedMeta<'_>, key: &str, example: &str) -> syn::Result<Expr> {
    value(meta, key, example)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_keys_only() {
        let known = ["name", "grace", "drain_delay", "probes"];
        assert_eq!(nearest("gracee", &known), Some("grace"));
        assert_eq!(nearest("drain_dealy", &known), Some("drain_delay"));
        assert_eq!(nearest("probe", &known), Some("probes"));
        assert_eq!(nearest("zzzzzzzz", &known), None);
    }
}
