//! Simulators served beside the measured runtime, and waited for.

use std::net::SocketAddr;

/// Serves `server` on a loopback port from a thread of its own (a
/// single-threaded runtime): the simulators stay off the measured runtime.
pub fn serve_on_a_thread<F, Fut>(server: F) -> anyhow::Result<SocketAddr>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            server(listener).await;
        });
    });
    Ok(address)
}

/// Waits until the simulator at `address` answers `GET /stats`: it makes
/// its data before it answers anything.
pub fn wait_until_serving(address: SocketAddr) -> anyhow::Result<SocketAddr> {
    loop {
        if let Ok(mut conn) = std::net::TcpStream::connect(address) {
            use std::io::{Read as _, Write as _};
            conn.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut reply = String::new();
            if conn.read_to_string(&mut reply).is_ok() && reply.starts_with("HTTP/1.1 200") {
                return Ok(address);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
