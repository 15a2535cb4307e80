# The oauth2 gem (Debian's ruby-oauth2) on the other side of Warden's /oauth/token, as a Ruby client
# would use it (driven by test/jwt-libraries.test.ts).
#
#   ruby_oauth2.rb password <base> <username> <password>
#       OAuth2::Client#password.get_token (RFC 6749 §4.3), a protected call with the AccessToken
#       (GET /api/v1/auth/verify), AccessToken#refresh!, the protected call with the new token, then
#       the retired refresh token presented again:
#       {"ok": true, "token": {access_token, refresh_token, expires_at, params}, "before": {status, user_id},
#        "refreshed": {changed_access, changed_refresh, status, user_id}, "replay": {"error", "status"}}
#       With CLIENT_SECRET set, the client sends it as a confidential client would (HTTP Basic; ignored).
# Failures print {"ok": false, "error": <exception class>, "oauth_error": <OAuth2::Error#code>, "description"}.
require 'json'
require 'oauth2'

def protected(token)
  res = token.get('/api/v1/auth/verify', raise_errors: false)
  { status: res.status, user_id: res.headers['x-auth-user'] }
end

def password(base, username, password)
  secret = ENV['CLIENT_SECRET']
  client = OAuth2::Client.new('orders-cli', secret, site: base, token_url: '/oauth/token',
                                                    auth_scheme: secret ? :basic_auth : :request_body)
  token = client.password.get_token(username, password)
  before = protected(token)
  fresh = token.refresh!
  refreshed = {
    changed_access: fresh.token != token.token, changed_refresh: fresh.refresh_token != token.refresh_token,
    **protected(fresh)
  }
  replay =
    begin
      token.refresh!
      { error: nil }
    rescue OAuth2::Error => e
      { error: e.code, status: e.response.status }
    end
  {
    token: { access_token: token.token, refresh_token: token.refresh_token, expires_at: token.expires_at, params: token.params },
    before: before, refreshed: refreshed, replay: replay
  }
end

mode, *rest = ARGV
begin
  out = mode == 'password' ? password(*rest) : raise(ArgumentError, "unknown mode #{mode}")
  puts JSON.generate({ ok: true, **out })
rescue StandardError => e # the test asserts which error the gem raises
  puts JSON.generate({ ok: false, error: e.class.name, oauth_error: e.respond_to?(:code) ? e.code : nil,
                       description: e.respond_to?(:description) ? e.description : nil })
end
