// TEMPORARY stub until the paged IP data lands.
pub async fn facts(_env: &worker::Env, ip: std::net::IpAddr) -> facegate_signals::IpFacts {
    facegate_signals::IpFacts {
        public: facegate_signals::is_public(ip),
        ..Default::default()
    }
}
