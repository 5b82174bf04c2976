// ClayHttpClient against tests/qml/http_test_server.py on 127.0.0.1:18080, which run-qml-test.sh
// starts (inside a fresh network namespace, where that port is free).
import QtQuick
import QtTest
import Clayground.Network

TestCase {
    id: testCase
    name: "ClayHttpClient"

    readonly property string server: "http://127.0.0.1:18080"
    readonly property int timeoutMs: 20000
    property var results: ({})
    property int lateAnswers: 0
    property var orphanMethod: null

    function record(requestId, ok, code, text) {
        var r = results
        r[requestId] = {ok: ok, code: code, text: text}
        results = r
    }

    // Waits for the answer to `requestId` and returns {ok, code, text}.
    function answer(requestId) {
        verify(requestId !== undefined && requestId !== 0, "request id " + requestId)
        tryVerify(function() { return results[requestId] !== undefined }, timeoutMs,
                  "answer to request " + requestId)
        return results[requestId]
    }

    function echoed(requestId) {
        var r = answer(requestId)
        verify(r.ok, "2xx expected, got " + r.code + ": " + r.text)
        return JSON.parse(r.text)
    }

    function requestCount() {
        var r = answer("c" + counter.count())
        return JSON.parse(r.text).count
    }

    ClayHttpClient {
        id: api
        baseUrl: testCase.server
        endpoints: {
            "echoGet": "GET echo/{first}/{second}",
            "echoPost": "POST echo {payload}",
            "echoPut": "PUT echo/{id} {payload}",
            "echoPatch": "PATCH echo/{id} {payload}",
            "echoDelete": "DELETE echo/{id}",
            "status": "GET status/{code}",
            "create": "POST status/201 {thing}"
        }
        onReply: (requestId, code, response) => testCase.record(requestId, true, code, response)
        onError: (requestId, code, error) => testCase.record(requestId, false, code, error)
    }

    ClayHttpClient {
        id: counter
        baseUrl: testCase.server
        endpoints: { "count": "GET count" }
        onReply: (requestId, code, response) => testCase.record("c" + requestId, true, code, response)
        onError: (requestId, code, error) => testCase.record("c" + requestId, false, code, error)
    }

    ClayHttpClient {
        id: slowClient
        baseUrl: testCase.server
        timeout: 300
        endpoints: { "slow": "GET slow/{ms}", "truncated": "GET truncated" }
        onReply: (requestId, code, response) => testCase.record("s" + requestId, true, code, response)
        onError: (requestId, code, error) => testCase.record("s" + requestId, false, code, error)
    }

    ClayHttpClient {
        id: unreachable
        baseUrl: "http://127.0.0.1:9"  // nothing listens here in the test's namespace
        endpoints: { "ping": "GET ping" }
        onReply: (requestId, code, response) => testCase.record("u" + requestId, true, code, response)
        onError: (requestId, code, error) => testCase.record("u" + requestId, false, code, error)
    }

    function test_generatedMethods() {
        compare(typeof api.echoGet, "function")
        compare(typeof api.status, "function")
        compare(typeof api.nothing, "undefined")
        var a = api.status(200), b = api.status(200)
        verify(b > a, "ids increase")
        answer(a)  // no request may still be on its way when a later test counts them
        answer(b)
    }

    function test_status200() {
        var r = answer(api.status(200))
        compare(r.ok, true)
        compare(r.code, 200)
        compare(JSON.parse(r.text).status, 200)
    }

    function test_status201() {
        var r = answer(api.create({name: "thing"}))
        compare(r.ok, true)
        compare(r.code, 201)
    }

    function test_status204() {
        var r = answer(api.status(204))
        compare(r.ok, true)
        compare(r.code, 204)
        compare(r.text, "")
    }

    function test_status404() {
        var r = answer(api.status(404))
        compare(r.ok, false)
        compare(r.code, 404)
        compare(r.text, "not here")
    }

    function test_status500() {
        var r = answer(api.status(500))
        compare(r.ok, false)
        compare(r.code, 500)
        compare(r.text, "boom")
    }

    function test_pathArgumentsArePercentEncoded() {
        var e = echoed(api.echoGet("a/b c?d#e", 42))
        compare(e.method, "GET")
        compare(e.path, "/echo/a%2Fb%20c%3Fd%23e/42")
        compare(e.body, "")
    }

    function test_bodies() {
        var payload = {name: "Ada", tags: ["x", "y"], n: 3, ok: true, none: null, f: 0.5}
        var e = echoed(api.echoPost(payload))
        compare(e.method, "POST")
        compare(e.contentType, "application/json")
        compare(JSON.parse(e.body), payload)
        // The raw text: JSON.parse would read 3.0 as 3.
        compare(e.body, '{"f":0.5,"n":3,"name":"Ada","none":null,"ok":true,"tags":["x","y"]}')

        e = echoed(api.echoPut(7, [1, 2, 3]))
        compare(e.method, "PUT")
        compare(e.path, "/echo/7")
        compare(JSON.parse(e.body), [1, 2, 3])

        e = echoed(api.echoPatch("p", JSON.stringify({patched: 1})))
        compare(e.method, "PATCH")
        compare(e.contentType, "application/json")
        compare(e.body, "{\"patched\":1}")

        e = echoed(api.echoPatch("p", "plain words"))
        compare(e.contentType, "text/plain; charset=utf-8")
        compare(e.body, "plain words")

        e = echoed(api.echoDelete("gone"))
        compare(e.method, "DELETE")
        compare(e.path, "/echo/gone")
    }

    function test_bearerTokenForms() {
        api.bearerToken = ""
        compare(echoed(api.echoGet(1, 2)).authorization, "")
        api.bearerToken = "tok-plain"
        compare(echoed(api.echoGet(1, 2)).authorization, "Bearer tok-plain")
        api.bearerToken = "env:CLAYNET_QML_TEST_TOKEN"  // set by run-qml-test.sh
        compare(echoed(api.echoGet(1, 2)).authorization, "Bearer tok-env-456")
        api.bearerToken = Qt.resolvedUrl("data/token.txt").toString()  // "  tok-file-123 \n\n"
        verify(api.bearerToken.startsWith("file:///"))
        compare(echoed(api.echoGet(1, 2)).authorization, "Bearer tok-file-123")
        api.bearerToken = ""
    }

    function test_missingTokenSendsNothing() {
        var before = requestCount()
        api.bearerToken = Qt.resolvedUrl("data/no-such-token.txt").toString()
        var r = answer(api.echoGet(1, 2))
        compare(r.ok, false)
        compare(r.code, 0)
        verify(r.text.indexOf("cannot read token file") >= 0, r.text)
        verify(r.text.indexOf("no-such-token.txt") >= 0, r.text)

        api.bearerToken = "env:CLAYNET_QML_TEST_NO_SUCH_VARIABLE"
        r = answer(api.echoGet(1, 2))
        compare(r.ok, false)
        compare(r.code, 0)
        verify(r.text.indexOf("CLAYNET_QML_TEST_NO_SUCH_VARIABLE") >= 0, r.text)
        api.bearerToken = ""
        compare(requestCount(), before)  // the server saw neither request
    }

    // Clayground's ClayHttpClient (clayground-wire.md §6.3): basic and API-key credentials; every
    // value literal, env.NAME (Clayground's form), env:NAME (the seeds') or file://; a bearer
    // token wins over basic, with one Authorization header; the API key goes beside either.
    function test_basicAndApiKeyCredentials() {
        compare(api.basicAuthUser, "")
        compare(api.basicAuthPassword, "")
        compare(api.apiKey, "")
        compare(api.apiKeyHeader, "X-API-Key")
        var e = echoed(api.echoGet(1, 2))
        compare(e.authorization, "")
        compare(e.headers["x-api-key"], undefined)

        api.basicAuthUser = "alice"
        api.basicAuthPassword = "s3cret"
        compare(echoed(api.echoGet(1, 2)).authorization, "Basic YWxpY2U6czNjcmV0")
        api.basicAuthPassword = "env.CLAY_TEST_BASIC_PASSWORD"  // set by run-qml-test.sh
        compare(echoed(api.echoGet(1, 2)).authorization, "Basic YWxpY2U6czNjcmV0")
        api.bearerToken = "tok-123"
        e = echoed(api.echoGet(1, 2))
        compare(e.authorization, "Bearer tok-123")
        compare(e.authorizationCount, 1)
        api.bearerToken = "env.CLAYNET_QML_TEST_TOKEN"
        compare(echoed(api.echoGet(1, 2)).authorization, "Bearer tok-env-456")
        api.bearerToken = ""
        api.basicAuthUser = ""
        api.basicAuthPassword = ""

        api.apiKey = "abc123"
        e = echoed(api.echoGet(1, 2))
        compare(e.headers["x-api-key"], "abc123")
        compare(e.authorization, "")
        api.apiKeyHeader = "X-Custom-Key"
        e = echoed(api.echoGet(1, 2))
        compare(e.headers["x-custom-key"], "abc123")
        compare(e.headers["x-api-key"], undefined)
        api.bearerToken = "tok-123"
        api.apiKey = Qt.resolvedUrl("data/token.txt").toString()  // "  tok-file-123 \n\n"
        e = echoed(api.echoGet(1, 2))
        compare(e.authorization, "Bearer tok-123")
        compare(e.headers["x-custom-key"], "tok-file-123")
        api.apiKeyHeader = ""  // no header name: no API key header
        e = echoed(api.echoGet(1, 2))
        compare(e.headers["x-custom-key"], undefined)
        api.bearerToken = ""
        api.apiKey = ""
        api.apiKeyHeader = "X-API-Key"
    }

    function test_badCredentialsSendNothing() {
        var before = requestCount()
        var r
        api.basicAuthUser = "alice"
        api.basicAuthPassword = "env.CLAYNET_QML_TEST_NO_SUCH_VARIABLE"
        r = answer(api.echoGet(1, 2))
        compare(r.ok, false)
        compare(r.code, 0)
        compare(r.text, "basicAuthPassword: environment variable CLAYNET_QML_TEST_NO_SUCH_VARIABLE is not set or empty")
        api.basicAuthUser = "ali:ce"  // RFC 7617: the user-id cannot contain a colon
        api.basicAuthPassword = "s3cret"
        r = answer(api.echoGet(1, 2))
        compare(r.code, 0)
        verify(r.text.indexOf("basicAuthUser") === 0 && r.text.indexOf("colon") > 0, r.text)
        api.basicAuthUser = ""
        api.basicAuthPassword = ""

        api.apiKey = "abc\r\nX-Injected: 1"
        r = answer(api.echoGet(1, 2))
        compare(r.code, 0)
        verify(r.text.indexOf("apiKey") === 0 && r.text.indexOf("line break") > 0, r.text)
        api.apiKey = "abc123"
        api.apiKeyHeader = "X API: Key"
        r = answer(api.echoGet(1, 2))
        compare(r.code, 0)
        verify(r.text.indexOf("apiKeyHeader") === 0, r.text)
        api.apiKey = ""
        api.apiKeyHeader = "X-API-Key"
        compare(requestCount(), before)  // the server saw none of them
    }

    function test_api() {
        compare(api.api, api)
        compare(typeof api.api.status, "function")
        var r = answer(api.status(200))
        compare(r.code, 200)
        r = answer(api.api.status(200))
        compare(r.ok, true)
        compare(r.code, 200)
        var e = echoed(api.api.echoGet("x", 1))
        compare(e.path, "/echo/x/1")
    }

    function test_dateIsSentAsJsonStringifyWritesIt() {
        var when = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))
        var e = echoed(api.echoPost({when: when}))
        compare(e.body, JSON.stringify({when: when}))
        compare(e.body, '{"when":"2024-01-02T03:04:05.678Z"}')
    }

    function test_transferTimeout() {
        var r = answer("s" + slowClient.slow(3000))  // headers at once, the body after 3 s
        compare(r.ok, false, r.text)
        compare(r.code, 0)
        compare(r.text, "timed out after 300 ms without progress")
    }

    function test_bodyCutShort() {
        var r = answer("s" + slowClient.truncated())
        compare(r.ok, false, r.text)
        compare(r.code, 0)
        verify(r.text.length > 0)
    }

    function test_unreachablePort() {
        var r = answer("u" + unreachable.ping())
        compare(r.ok, false)
        compare(r.code, 0)
        verify(r.text.length > 0)
        verify(/refused/i.test(r.text), r.text)
    }

    function test_wrongArgumentCount() {
        var r = answer(api.echoGet(1))
        compare(r.ok, false)
        compare(r.code, 0)
        verify(r.text.indexOf("echoGet takes 2 argument(s) (first, second), got 1") >= 0, r.text)
    }

    function test_regeneratedOnChange() {
        var client = createTemporaryQmlObject(
            "import Clayground.Network; ClayHttpClient { endpoints: { \"one\": \"GET status/200\" } }",
            testCase)
        var replies = createTemporaryObject(spyComponent, testCase,
                                            {target: client, signalName: "reply"})
        compare(typeof client.one, "function")
        client.endpoints = {"two": "GET status/{code}"}
        compare(typeof client.one, "undefined")
        compare(typeof client.two, "function")
        client.baseUrl = testCase.server
        compare(typeof client.two, "function")
        client.two(200)
        tryCompare(replies, "count", 1, timeoutMs)
        compare(replies.signalArguments[0][1], 200)
    }

    function test_destroyedWhileRequesting() {
        var client = createTemporaryQmlObject(
            "import Clayground.Network; ClayHttpClient { endpoints: { \"slow\": \"GET slow/500\" };"
            + " onReply: testCase.lateAnswers++; onError: testCase.lateAnswers++ }",
            testCase)
        client.baseUrl = testCase.server
        var before = requestCount()
        client.slow()
        // Destroyed only once the server has the request, so it is certainly in flight.
        for (var i = 0; i < 100 && requestCount() === before; ++i)
            wait(20)
        compare(requestCount(), before + 1)
        client.destroy()
        wait(1000)  // past the server's answer, which must not reach the destroyed client
        compare(lateAnswers, 0)
        var r = answer(api.status(200))  // the server is still fine
        compare(r.code, 200)
    }

    // In a function of its own, so that no stale reference to the client stays on the stack
    // the garbage collector scans.
    function makeOrphanClient() {
        var client = gcClientComponent.createObject(null)
        orphanMethod = client.one
    }

    // True while the client behind a generated method lives (its methods still return ids).
    function methodWorks(method) {
        try {
            return method() > 0
        } catch (e) {
            return false
        }
    }

    // A generated method must not keep a client without a parent alive: before, each one held
    // the client's JavaScript wrapper, so such a client was never collected.
    function test_collectedWithoutParent() {
        makeOrphanClient()
        verify(methodWorks(orphanMethod))
        for (var i = 0; i < 50 && methodWorks(orphanMethod); ++i) {
            gc()
            wait(20)
        }
        verify(!methodWorks(orphanMethod), "the client was collected")
        orphanMethod = null
    }

    function test_badEndpointsWarn() {
        ignoreWarning(/ClayHttpClient: endpoint bad skipped: .*FETCH.*/)
        ignoreWarning(/ClayHttpClient: endpoint name api .*skipped/)
        ignoreWarning(/ClayHttpClient: endpoint name baseUrl .*skipped/)
        var client = createTemporaryQmlObject(
            "import Clayground.Network; ClayHttpClient { endpoints: { \"bad\": \"FETCH x\", \"api\": \"GET x\", \"baseUrl\": \"GET x\", \"good\": \"GET x\" } }",
            testCase)
        compare(typeof client.good, "function")
        compare(typeof client.bad, "undefined")
        compare(typeof client.baseUrl, "string")
        compare(client.api, client)
    }

    Component { id: spyComponent; SignalSpy {} }
    Component {
        id: gcClientComponent
        ClayHttpClient { endpoints: { "one": "GET status/200" } }
    }
}
