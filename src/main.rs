use clap::Parser;

/// See `mimalloc` in the workspace's Cargo.toml and the README: glibc's malloc and free
/// were a quarter of the server's CPU per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let command = clientele::cli::Cli::parse()
        .command_or_serve()
        .unwrap_or_else(|error| error.exit());
    clientele::cli::run(command).await
}
