use clap::Parser;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let command = clientele::cli::Cli::parse()
        .command_or_serve()
        .unwrap_or_else(|error| error.exit());
    clientele::cli::run(command).await
}
