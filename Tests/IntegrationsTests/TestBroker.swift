import Integrations

typealias TestBroker = PrivateBroker
