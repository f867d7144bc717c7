use clap::Parser;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = clientele::cli::Cli::parse();
    clientele::cli::run(cli).await
}
