//! The code generation behind tractor for Rust's typed services.
//!
//! Use it through `service!` of `tractor-tokio`, `tractor-smol` or
//! `tractor-driver`, which documents what it writes; this crate is that
//! macro's engine and has no API of its own.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{TokenStream as Tokens, TokenTree};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprLit, FnArg, GenericArgument, Ident, ItemTrait, Lit, Pat, PathArguments,
    ReturnType, TraitItem, TraitItemFn, Type, Visibility,
};

/// Writes a typed service from a trait. Called as
/// `service_impl! { <path of tractor-driver> ; <trait> }` by `service!`,
/// which passes its own `$crate` so that the code written reaches the
/// driver whichever crate re-exports it.
#[doc(hidden)]
#[proc_macro]
pub fn service_impl(input: TokenStream) -> TokenStream {
    let input: Tokens = input.into();
    let mut krate = Tokens::new();
    let mut rest = input.into_iter();
    for tt in rest.by_ref() {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ';' => break,
            _ => krate.extend([tt]),
        }
    }
    let body: Tokens = rest.collect();
    match syn::parse2::<ItemTrait>(body).and_then(|t| expand(&krate, t)) {
        Ok(out) => out.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// One method of the service.
struct Method {
    name: Ident,
    attrs: Vec<Attribute>,
    /// A context method's context parameter: its name and type.
    context: Option<(Ident, Type)>,
    /// Its parameters after `&self`: names and types.
    params: Vec<(Ident, Type)>,
    /// The whole return type, `Result<T, E>`.
    ret: Type,
    /// `T`.
    ok: Type,
}

fn expand(krate: &Tokens, mut item: ItemTrait) -> syn::Result<Tokens> {
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            item.generics.span(),
            "a service trait takes no generic parameters: its functions are called by name from any actor",
        ));
    }
    if !item.supertraits.is_empty() {
        return Err(syn::Error::new(
            item.supertraits.span(),
            "a service trait has no supertraits (it is `Send + Sync + 'static` already)",
        ));
    }
    let namespace =
        take_namespace(&mut item.attrs)?.unwrap_or_else(|| snake_case(&item.ident.to_string()));
    let mut methods = Vec::new();
    for it in &item.items {
        match it {
            TraitItem::Fn(f) => methods.push(method(f)?),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "a service trait holds only `async fn`s: each is a function of the service",
                ));
            }
        }
    }
    let vis = &item.vis;
    let name = &item.ident;
    let attrs = &item.attrs;
    let service = format_ident!("{}Service", name);
    let client = format_ident!("{}Client", name);
    let names: Vec<String> = methods.iter().map(|m| m.name.to_string()).collect();

    let trait_methods = methods.iter().map(|m| {
        let Method {
            name,
            attrs,
            context,
            params,
            ret,
            ..
        } = m;
        let params = context.iter().chain(params).map(|(p, t)| quote!(#p: #t));
        quote! {
            #(#attrs)*
            fn #name(&self, #(#params),*)
                -> impl ::core::future::Future<Output = #ret> + ::core::marker::Send;
        }
    });

    let registrations = methods.iter().map(|m| {
        let method = &m.name;
        let func = m.name.to_string();
        let takes = m.params.iter().map(|(p, t)| {
            let key = p.to_string();
            quote!(let #p: #t = __kwargs.take(#key)?;)
        });
        let passed = m.params.iter().map(|(p, _)| p);
        let args = match m.params.is_empty() {
            true => quote!(__kwargs),
            false => quote!(mut __kwargs),
        };
        match &m.context {
            None => quote! {
                let __functions = {
                    let __imp = __imp.clone();
                    __functions.rpc_kwargs(#namespace, #func, move |#args: #krate::Kwargs| {
                        #(#takes)*
                        __kwargs.finish()?;
                        let __imp = __imp.clone();
                        ::core::result::Result::Ok(async move {
                            #name::#method(&*__imp, #(#passed),*)
                                .await
                                .map_err(::core::convert::Into::<#krate::Error>::into)
                        })
                    })
                };
            },
            Some((_, ctx_ty)) => quote! {
                let __functions = {
                    let __imp = __imp.clone();
                    __functions.context_kwargs(
                        #namespace,
                        #func,
                        move |__ctx: #krate::Context, #args: #krate::Kwargs| {
                            #(#takes)*
                            __kwargs.finish()?;
                            let __imp = __imp.clone();
                            ::core::result::Result::Ok(async move {
                                #name::#method(&*__imp, <#ctx_ty>::new(__ctx), #(#passed),*)
                                    .await
                                    .map_err(::core::convert::Into::<#krate::Error>::into)
                            })
                        },
                    )
                };
            },
        }
    });

    let client_methods = methods.iter().map(|m| {
        let Method {
            name: method,
            attrs,
            params,
            ok,
            ..
        } = m;
        let func = method.to_string();
        let args = params.iter().map(|(p, t)| quote!(#p: #t));
        let given = params.iter().map(|(p, _)| {
            let key = p.to_string();
            quote!(.arg(#key, &#p))
        });
        match &m.context {
            None => quote! {
                #(#attrs)*
                #[track_caller]
                pub fn #method(&self, #(#args),*) -> #krate::ApiFuture<'_, #krate::Result<#ok>> {
                    self.portal.run_kwargs::<#ok>(
                        #namespace,
                        #func,
                        #krate::Kwargs::new() #(#given)*,
                    )
                }
            },
            Some((_, ctx_ty)) => {
                let types = quote!(<#ctx_ty as #krate::ContextTypes>);
                quote! {
                    #(#attrs)*
                    #[track_caller]
                    pub fn #method(&self, #(#args),*) -> #krate::ApiFuture<
                        '_,
                        #krate::Result<(
                            #krate::OpenedContext<#types::In, #types::Out, #ok>,
                            #types::Started,
                        )>,
                    > {
                        #krate::OpenedContext::open(
                            &self.portal,
                            #namespace,
                            #func,
                            #krate::Kwargs::new() #(#given)*,
                        )
                    }
                }
            }
        }
    });

    let service_doc = format!(
        "The service [`{name}`], served under the namespace `{namespace}`: give it to \
         `Functions::serve` with an implementation, and to `ActorOptions::serve` for a \
         child that serves it."
    );
    let client_doc = format!(
        "Calls the service [`{name}`] (namespace `{namespace}`) through a portal, with \
         the trait's signatures; each method's parameters go as the call's keyword \
         arguments."
    );
    let client_vis = match vis {
        Visibility::Inherited => quote!(),
        v => quote!(#v),
    };

    Ok(quote! {
        #(#attrs)*
        #vis trait #name: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#trait_methods)*
        }

        #[doc = #service_doc]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #vis struct #service;

        impl #krate::Service for #service {
            const NAMESPACE: &'static str = #namespace;
            const FUNCTIONS: &'static [&'static str] = &[#(#names),*];
        }

        impl<Imp: #name> #krate::Serve<Imp> for #service {
            fn register(self, imp: Imp, functions: #krate::Functions) -> #krate::Functions {
                let __imp = ::std::sync::Arc::new(imp);
                let __functions = functions;
                #(#registrations)*
                __functions
            }
        }

        #[doc = #client_doc]
        #[derive(Clone, Debug)]
        #vis struct #client {
            portal: #krate::Portal,
        }

        impl #client {
            /// A client calling through `portal`.
            #client_vis fn new(portal: &#krate::Portal) -> Self {
                #client { portal: portal.clone() }
            }

            /// The portal it calls through.
            #client_vis fn portal(&self) -> &#krate::Portal {
                &self.portal
            }

            #(#client_methods)*
        }
    })
}

/// Takes `#[namespace = "…"]` out of the trait's attributes.
fn take_namespace(attrs: &mut Vec<Attribute>) -> syn::Result<Option<String>> {
    let mut found = None;
    let mut kept = Vec::new();
    for attr in attrs.drain(..) {
        if !attr.path().is_ident("namespace") {
            kept.push(attr);
            continue;
        }
        let value = match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => s.value(),
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "the namespace is a string: `#[namespace = \"math\"]`",
                    ));
                }
            },
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "write the namespace as `#[namespace = \"math\"]`",
                ));
            }
        };
        if value.is_empty() {
            return Err(syn::Error::new(attr.span(), "the namespace is empty"));
        }
        found = Some(value);
    }
    *attrs = kept;
    Ok(found)
}

fn method(f: &TraitItemFn) -> syn::Result<Method> {
    let sig = &f.sig;
    let is_context = f.attrs.iter().any(|a| a.path().is_ident("context"));
    let attrs: Vec<Attribute> = f
        .attrs
        .iter()
        .filter(|a| !a.path().is_ident("context"))
        .cloned()
        .collect();
    if let Some(body) = &f.default {
        return Err(syn::Error::new(
            body.span(),
            "a service method has no body here: the implementation gives it",
        ));
    }
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            "a service method is an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "a service method takes no generic parameters: its types are fixed on the wire",
        ));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        _ => {
            return Err(syn::Error::new(
                sig.inputs.span(),
                "a service method takes `&self` first (one implementation serves every call)",
            ));
        }
    }
    let mut params = Vec::new();
    for arg in inputs {
        let FnArg::Typed(pt) = arg else {
            return Err(syn::Error::new(arg.span(), "one `self` only"));
        };
        let Pat::Ident(id) = &*pt.pat else {
            return Err(syn::Error::new(
                pt.pat.span(),
                "a parameter is a plain name: it is the keyword the argument travels under",
            ));
        };
        if matches!(&*pt.ty, Type::Reference(_)) {
            return Err(syn::Error::new(
                pt.ty.span(),
                "a service method's parameters are owned values (`String`, not `&str`): they arrive over the wire",
            ));
        }
        let name = id.ident.clone();
        let key = name.to_string();
        let key = key.strip_prefix("r#").unwrap_or(&key);
        if key.starts_with('_') {
            return Err(syn::Error::new(
                name.span(),
                "a parameter's name is the keyword a caller gives: no leading `_`",
            ));
        }
        params.push((name, (*pt.ty).clone()));
    }
    let context = match is_context {
        false => None,
        true if params.is_empty() => {
            return Err(syn::Error::new(
                sig.inputs.span(),
                "a `#[context]` method takes its context after `&self`: `ctx: ServedContext<Started, In, Out>`",
            ));
        }
        true => Some(params.remove(0)),
    };
    let ReturnType::Type(_, ret) = &sig.output else {
        return Err(syn::Error::new(
            sig.span(),
            "a service method returns `Result<T, E>`",
        ));
    };
    let ok = result_ok(ret).ok_or_else(|| {
        syn::Error::new(
            ret.span(),
            "a service method returns `Result<T, E>` (or tractor's `Result<T>`)",
        )
    })?;
    if sig.ident == "new" || sig.ident == "portal" {
        return Err(syn::Error::new(
            sig.ident.span(),
            "`new` and `portal` name the client's own methods: give this function another name",
        ));
    }
    Ok(Method {
        name: sig.ident.clone(),
        attrs,
        context,
        params,
        ret: (**ret).clone(),
        ok,
    })
}

/// `T` of a `Result<T, …>`.
fn result_ok(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

/// `MarketData` → `market_data`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
