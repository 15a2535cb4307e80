# ruby-jwt on the other side of Warden's tokens, as a Ruby service behind Warden would use it
# (driven by test/jwt-libraries.test.ts; Debian's ruby-jwt, with ruby-rbnacl for EdDSA).
#
# One JSON request per line on stdin, one JSON answer per line on stdout, so that one process (one
# service) keeps its JWKS cache across Warden's restarts, as a real service does through a rotation.
#
#   {"op": "verify", "token", "algorithms": [...], "jwks_url"? | "secret"?, "iss"?, "aud"?, "leeway"?, "verify_iat"?}
#       -> {"ok": true, "alg", "kid", "sub", "claims"} or {"ok": false, "error": "<exception class>: <message>"}
#   {"op": "expire"}   the cached JWKS has outlived its max-age (what Warden's Cache-Control allows): fetch again next time
#   {"op": "sign", "alg", "claims", "kid", "secret"? | "private_jwk"?}
#       -> {"ok": true, "token", "jwk"}: the token ruby-jwt signs, and the public JWK ruby-jwt exports for the key
#
# RSA and EC keys come through ruby-jwt's own `jwks:` option, with a loader that fetches again when
# a token names a kid it has not seen (`kid_not_found`). ruby-jwt 2.5 imports no OKP JWK, so for
# EdDSA the service builds RbNaCl's VerifyKey from the JWK's `x` itself, from the same cache.
require 'json'
require 'net/http'
require 'openssl'
require 'uri'
require 'jwt'

$stdout.sync = true

class Keys
  def initialize
    @sets = {}
  end

  def fetch(url)
    res = Net::HTTP.get_response(URI(url))
    raise "JWKS fetch answered #{res.code}" unless res.is_a?(Net::HTTPSuccess)

    @sets[url] = JSON.parse(res.body)
  end

  # ruby-jwt's loader contract: called with kid_not_found: true when a token's kid is not in the set.
  def loader(url)
    lambda do |opts|
      fetch(url) if opts[:kid_not_found] || !@sets.key?(url)
      @sets[url]
    end
  end

  def jwk(url, kid)
    set = @sets[url] || fetch(url)
    found = set['keys'].find { |k| k['kid'] == kid }
    found || fetch(url)['keys'].find { |k| k['kid'] == kid }
  end

  def expire
    @sets.clear
  end
end

def claim_options(req)
  opts = { algorithms: req['algorithms'], leeway: req['leeway'] || 0, verify_iat: req['verify_iat'] == true }
  opts.merge!(iss: req['iss'], verify_iss: true) if req['iss']
  opts.merge!(aud: req['aud'], verify_aud: true) if req['aud']
  opts
end

def verify(keys, req)
  token = req['token']
  opts = claim_options(req)
  if req['secret']
    payload, header = JWT.decode(token, req['secret'], true, opts)
  else
    url = req['jwks_url']
    _, unverified = JWT.decode(token, nil, false)
    if unverified['alg'] == 'EdDSA'
      require 'rbnacl'
      payload, header = JWT.decode(token, nil, true, opts) do |h|
        jwk = keys.jwk(url, h['kid'])
        raise JWT::DecodeError, "Could not find public key for kid #{h['kid']}" unless jwk && jwk['kty'] == 'OKP' && jwk['crv'] == 'Ed25519'

        RbNaCl::Signatures::Ed25519::VerifyKey.new(JWT::Base64.url_decode(jwk['x']))
      end
    else
      payload, header = JWT.decode(token, nil, true, opts.merge(jwks: keys.loader(url)))
    end
  end
  { ok: true, alg: header['alg'], kid: header['kid'], sub: payload['sub'], claims: payload }
end

def sign(req)
  alg = req['alg']
  headers = req['kid'] ? { kid: req['kid'] } : {}
  if req['secret']
    return { ok: true, token: JWT.encode(req['claims'], req['secret'], alg, headers), jwk: nil }
  end

  priv = req['private_jwk']
  if alg == 'EdDSA'
    require 'rbnacl'
    key = RbNaCl::Signatures::Ed25519::SigningKey.new(JWT::Base64.url_decode(priv['d']))
    # ruby-jwt 2.5 exports no OKP JWK: the service writes RFC 8037's members itself.
    jwk = { kty: 'OKP', crv: 'Ed25519', x: JWT::Base64.url_encode(key.verify_key.to_bytes), kid: req['kid'] }
  else
    key = JWT::JWK.import(priv).keypair
    jwk = JWT::JWK.new(key, req['kid']).export
  end
  { ok: true, token: JWT.encode(req['claims'], key, alg, headers), jwk: jwk }
end

keys = Keys.new
$stdin.each_line do |line|
  req = JSON.parse(line)
  answer =
    begin
      case req['op']
      when 'verify' then verify(keys, req)
      when 'sign' then sign(req)
      when 'expire'
        keys.expire
        { ok: true }
      else { ok: false, error: "unknown op #{req['op']}" }
      end
    rescue StandardError => e # the test asserts which error a bad token raises
      { ok: false, error: "#{e.class}: #{e.message}" }
    end
  puts JSON.generate(answer)
end
