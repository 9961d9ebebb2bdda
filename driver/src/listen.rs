//! Binding an actor's listeners and recording what it gives out.

use std::sync::Arc;

use tractor_protocol::Address;

use crate::engine::Shared;
use crate::{Error, ErrorKind, Result, transport};

/// Whether `addr` is TCP port 0: any port, which the OS picks at binding.
pub(crate) fn any_port(addr: &Address) -> bool {
    matches!(addr, Address::Tcp { port: 0, .. })
}

/// Why an actor could not listen.
pub(crate) struct ListenFailure {
    /// The address it could not listen on.
    pub(crate) addr: Address,
    /// Whether something else listens there already.
    pub(crate) taken: bool,
    pub(crate) error: Error,
}

/// Binds the listeners of an actor and records them in the core.
/// Listens on each of `addrs` (an address given twice once, except TCP
/// port 0); if one
/// fails, those already bound are closed and their socket files removed.
pub(crate) fn listen(
    shared: &Arc<Shared>,
    addrs: &[Address],
    advertise: &[Address],
) -> Result<Vec<Address>> {
    try_listen(shared, addrs, advertise).map_err(|f| f.error)
}

/// [`listen`], saying which address failed and whether it was taken.
pub(crate) fn try_listen(
    shared: &Arc<Shared>,
    addrs: &[Address],
    advertise: &[Address],
) -> std::result::Result<Vec<Address>, ListenFailure> {
    let mut bound = Vec::new();
    let mut listeners = Vec::new();
    let mut seen = Vec::new();
    for addr in addrs {
        if let Err(error) = match shared.settings.tls {
            Some(_) => Ok(()),
            None => shared.settings.auth.check_bind(addr),
        } {
            return Err(ListenFailure {
                addr: addr.clone(),
                taken: false,
                error,
            });
        }
    }
    for addr in addrs {
        // Port 0 asks for a fresh port each time it is given.
        if !any_port(addr) && seen.contains(&addr) {
            continue;
        }
        seen.push(addr);
        let adopted = transport::bind(addr)
            .map_err(|e| ListenFailure {
                addr: addr.clone(),
                taken: e.kind() == std::io::ErrorKind::AddrInUse,
                error: Error::runtime(format!("cannot listen on {addr}: {e}")),
            })
            .and_then(|(listener, at)| match shared.rt.listen(listener) {
                Ok(l) => Ok((l, at)),
                Err(e) => {
                    transport::unbind(&at);
                    Err(ListenFailure {
                        addr: addr.clone(),
                        taken: false,
                        error: e.into(),
                    })
                }
            });
        match adopted {
            Ok((listener, at)) => {
                listeners.push(listener);
                bound.push(at);
            }
            Err(e) => {
                drop(listeners);
                bound.iter().for_each(transport::unbind);
                return Err(e);
            }
        }
    }
    // What others are told: the advertised addresses in place of the
    // bound ones. (Only TCP is advertised, and nothing of a TCP address is
    // left to unbind at teardown, which unbinds what is given out.)
    let given = match tractor_protocol::advertised(&bound, advertise) {
        Ok(given) => given,
        Err(e) => {
            drop(listeners);
            bound.iter().for_each(transport::unbind);
            return Err(ListenFailure {
                addr: bound.first().cloned().unwrap_or_else(|| addrs[0].clone()),
                taken: false,
                error: ErrorKind::Advertise(e).into(),
            });
        }
    };
    for (at, told) in bound.iter().zip(&given) {
        if at != told && crate::auth::is_local(at) && !crate::auth::is_local(told) {
            tracing::warn!(target: "tractor::runtime", bound = %at, advertised = %told, "advertising an address for a loopback listener: only something on this host that forwards to it makes it reachable (bind a wildcard or that address?)");
        }
    }
    // The actor knows its addresses before its first connection is
    // accepted: a registrar's own entry is then in its registry for the
    // first peer that asks (a root that joins the moment this one won the
    // election).
    shared.with(|st, _| st.actor.set_accept_addrs(given.clone()));
    for listener in listeners {
        shared.start_listener(listener);
    }
    Ok(given)
}
