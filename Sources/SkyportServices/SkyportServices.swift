/// Background services: each is a swift-service-lifecycle `Service` whose `run()` is its whole life.
/// The offer-expiry sweeper and the forwarding and tracking workers live here.
public enum SkyportServices {}
