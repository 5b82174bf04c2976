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
            "import Clayground.Network; ClayHttpClient { endpoints: { \"slow\": \"GET status/200\" } }",
            testCase)
        client.baseUrl = testCase.server
        var replies = createTemporaryObject(spyComponent, testCase,
                                            {target: client, signalName: "reply"})
        client.slow()
        client.destroy()
        wait(200)  // the request's answer, if any, must not reach a destroyed object
        verify(replies.count === 0)
        var r = answer(api.status(200))  // the server is still fine
        compare(r.code, 200)
    }

    function test_badEndpointsWarn() {
        ignoreWarning(/ClayHttpClient: endpoint bad skipped: .*FETCH.*/)
        ignoreWarning(/ClayHttpClient: endpoint name baseUrl .*skipped/)
        var client = createTemporaryQmlObject(
            "import Clayground.Network; ClayHttpClient { endpoints: { \"bad\": \"FETCH x\", \"baseUrl\": \"GET x\", \"good\": \"GET x\" } }",
            testCase)
        compare(typeof client.good, "function")
        compare(typeof client.bad, "undefined")
        compare(typeof client.baseUrl, "string")
    }

    Component { id: spyComponent; SignalSpy {} }
}
