import Crypto
import Foundation
import WardenCore
import SwiftASN1
import X509

public struct FleetCertificateError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A key and its certificate, both PEM.
public struct KeyAndCertificate: Sendable, Equatable {
    public var privateKeyPEM: String
    public var certificatePEM: String
    public init(privateKeyPEM: String, certificatePEM: String) { self.privateKeyPEM = privateKeyPEM; self.certificatePEM = certificatePEM }
}

/// The site's certificate authority: it signs the server's certificate and every
/// controller's, and it is the only root either side trusts. Controllers are told its
/// SHA-256 fingerprint in their one-time join token, so the first connection is pinned too.
///
/// Keys are P-256. Controller certificates carry only the clientAuth usage and the
/// controller's name; the server's carries serverAuth and the names it is reached by, so a
/// controller's certificate can never pose as the server.
public struct SiteCA: @unchecked Sendable {  // the key is immutable
    public let key: P256.Signing.PrivateKey
    public let certificate: Certificate

    public static let controllerValidity: TimeInterval = 5 * 365 * 86_400
    static let caValidity: TimeInterval = 20 * 365 * 86_400

    public init(key: P256.Signing.PrivateKey, certificate: Certificate) { self.key = key; self.certificate = certificate }

    public init(pem: KeyAndCertificate) throws {
        do {
            key = try P256.Signing.PrivateKey(pemRepresentation: pem.privateKeyPEM)
            certificate = try Certificate(pemEncoded: pem.certificatePEM)
        } catch { throw FleetCertificateError("the site CA's key or certificate cannot be read: \(error)") }
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw FleetCertificateError("the site CA's key does not belong to its certificate")
        }
    }

    /// A new CA for a site.
    public static func create(siteName: String, now: Date = Date()) throws -> SiteCA {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("Warden")
            CommonName("Warden site CA: \(siteName)")
        }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(caValidity),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        return SiteCA(key: key, certificate: cert)
    }

    public var pem: KeyAndCertificate {
        get throws { KeyAndCertificate(privateKeyPEM: key.pemRepresentation, certificatePEM: try certificate.serializeAsPEM().pemString) }
    }

    public var fingerprint: String { get throws { try Self.fingerprint(of: certificate) } }

    /// SHA-256 of the certificate's DER, in hex: what a join token pins.
    public static func fingerprint(of certificate: Certificate) throws -> String {
        var s = DER.Serializer()
        try s.serialize(certificate)
        return Hex.encode(SHA256.hash(data: s.serializedBytes))
    }

    public static func fingerprint(pem: String) throws -> String { try fingerprint(of: try Certificate(pemEncoded: pem)) }

    /// The server's certificate, for the DNS names and IP addresses it is reached by.
    public func issueServerCertificate(names: [String], now: Date = Date()) throws -> KeyAndCertificate {
        let key = P256.Signing.PrivateKey()
        var alternatives: [GeneralName] = []
        for n in names {
            if let ip = IPAddressBytes(n) { alternatives.append(.ipAddress(ASN1OctetString(contentBytes: ip[...]))) } else { alternatives.append(.dnsName(n)) }
        }
        guard !alternatives.isEmpty else { throw FleetCertificateError("the server certificate needs at least one name or address") }
        let subject = try DistinguishedName { OrganizationName("Warden"); CommonName("Warden server \(names[0])") }
        let cert = try issue(publicKey: .init(key.publicKey), subject: subject, usage: .serverAuth, alternatives: alternatives, now: now)
        return KeyAndCertificate(privateKeyPEM: key.pemRepresentation, certificatePEM: try cert.serializeAsPEM().pemString)
    }

    /// Signs a controller's request. The name in the certificate is the one the join token
    /// was made for, whatever the request asked: a token for "lobby-board" cannot mint "server".
    public func signController(csrPEM: String, name: String, now: Date = Date()) throws -> String {
        let csr: CertificateSigningRequest
        do { csr = try CertificateSigningRequest(pemEncoded: csrPEM) } catch {
            throw FleetCertificateError("the certificate signing request is not a PEM PKCS#10 request: \(error)")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw FleetCertificateError("the certificate signing request is not signed by its own key")
        }
        let subject = try DistinguishedName { OrganizationName("Warden"); CommonName(ControllerName.commonNamePrefix + name) }
        let cert = try issue(publicKey: csr.publicKey, subject: subject, usage: .clientAuth, alternatives: [], now: now)
        return try cert.serializeAsPEM().pemString
    }

    /// An end-entity certificate signed by this CA, for one usage only (a server's is never
    /// a client's, and the other way round).
    private func issue(publicKey: Certificate.PublicKey, subject: DistinguishedName, usage: ExtendedKeyUsage.Usage,
                       alternatives: [GeneralName], now: Date) throws -> Certificate {
        try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(Self.controllerValidity),
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyAgreement: true))
                try ExtendedKeyUsage([usage])
                if !alternatives.isEmpty { SubjectAlternativeNames(alternatives) }
            },
            issuerPrivateKey: .init(self.key))
    }
}

/// A controller's own key and its signing request (the key stays on the board).
public enum ControllerKey {
    public static func makeRequest(name: String) throws -> (privateKeyPEM: String, csrPEM: String) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { OrganizationName("Warden"); CommonName(ControllerName.commonNamePrefix + name) }
        let csr = try CertificateSigningRequest(version: .v1, subject: subject, privateKey: .init(key),
                                                attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
        return (key.pemRepresentation, try csr.serializeAsPEM().pemString)
    }
}

/// Controller names: what `token create --controller` takes and certificates carry.
public enum ControllerName {
    public static let commonNamePrefix = "warden-controller:"

    /// Why a name is refused, or nil: 1-63 of a-z, 0-9 and '-', starting with a letter or digit.
    public static func problem(_ name: String) -> String? {
        let ok = !name.isEmpty && name.count <= 63 && name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }
            && name.first != "-"
        return ok ? nil : "controller name '\(name)' must be 1-63 characters of a-z, 0-9 and '-', not starting with '-'"
    }

    /// The controller a certificate names, or nil for one that is not a controller's.
    public static func of(_ certificate: Certificate) -> String? {
        for rdn in certificate.subject {
            for a in rdn where a.type == .RDNAttributeType.commonName {
                let text = String(describing: a.value)
                if text.hasPrefix(commonNamePrefix) { return String(text.dropFirst(commonNamePrefix.count)) }
            }
        }
        return nil
    }
}

/// IPv4 dotted quads and IPv6 text as the 4 or 16 bytes a certificate's SAN holds.
func IPAddressBytes(_ text: String) -> [UInt8]? {
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
    return nil
}
