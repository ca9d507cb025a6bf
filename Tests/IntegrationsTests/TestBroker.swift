import PrivateServers
import Integrations

typealias TestBroker = PrivateBroker
