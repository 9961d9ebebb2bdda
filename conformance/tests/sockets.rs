//! What each adapter gives the driver of its connections: the TCP socket
//! under a connection, on which the driver sets the tree's keepalive;
//! nothing for a Unix socket.

use std::future::poll_fn;
use std::os::fd::BorrowedFd;

use nix::sys::socket::{getsockopt, sockopt};
use tractor_adapters::Adapter;
use tractor_driver::runtime::{StdListener, Target};

/// Whether `fd` is a TCP socket (it reports a TCP option).
fn is_tcp(fd: BorrowedFd<'_>) -> bool {
    getsockopt(&fd, sockopt::TcpKeepIdle).is_ok()
}

#[test]
fn tcp_connections_show_their_socket_and_unix_ones_none() {
    for adapter in [Adapter::Tokio, Adapter::Smol] {
        let rt = adapter.runtime();
        adapter.block_on(async {
            // Opened: TCP.
            let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let at = tcp.local_addr().unwrap();
            let conn = rt.connect(Target::Tcp(at)).await.unwrap();
            let socket = conn.reader.tcp_socket().expect("a TCP socket");
            assert!(is_tcp(socket), "{}", adapter.name());
            // Accepted: TCP.
            tcp.set_nonblocking(true).unwrap();
            let mut listener = rt.listen(StdListener::Tcp(tcp)).unwrap();
            let _client = std::net::TcpStream::connect(at).unwrap();
            let accepted = poll_fn(|cx| listener.poll_accept(cx)).await.unwrap();
            let socket = accepted.reader.tcp_socket().expect("a TCP socket");
            assert!(is_tcp(socket), "{}", adapter.name());
            // Unix sockets, opened and accepted: none.
            let dir = std::env::temp_dir().join(format!("tractor-sockets-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{}.sock", adapter.name()));
            let _ = std::fs::remove_file(&path);
            let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
            unix.set_nonblocking(true).unwrap();
            let mut listener = rt.listen(StdListener::Unix(unix)).unwrap();
            let conn = rt.connect(Target::Unix(path.clone())).await.unwrap();
            assert!(conn.reader.tcp_socket().is_none(), "{}", adapter.name());
            let accepted = poll_fn(|cx| listener.poll_accept(cx)).await.unwrap();
            assert!(accepted.reader.tcp_socket().is_none(), "{}", adapter.name());
            drop(listener);
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
}
