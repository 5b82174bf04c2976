// Network items in Local mode, all in this process: one host and two joiners on 127.0.0.1 go
// through host, join, broadcast, broadcastState, sendTo and leave.
import QtQuick
import QtTest
import Clayground.Network

TestCase {
    id: testCase
    name: "Network"

    // Generous: every wait ends as soon as its condition holds.
    readonly property int timeoutMs: 30000

    component LoopbackNode: Network {
        signalingMode: Network.SignalingMode.Local
        localAddress: "127.0.0.1"
        iceLocalAddresses: ["127.0.0.1"]
        maxNodes: 3
        connectionTimeout: 20000
    }

    LoopbackNode { id: host }
    LoopbackNode { id: alice }
    LoopbackNode { id: bob }

    SignalSpy { id: created; target: host; signalName: "networkCreated" }
    SignalSpy { id: hostJoined; target: host; signalName: "nodeJoined" }
    SignalSpy { id: hostLeft; target: host; signalName: "nodeLeft" }
    SignalSpy { id: hostMessages; target: host; signalName: "messageReceived" }
    SignalSpy { id: aliceMessages; target: alice; signalName: "messageReceived" }
    SignalSpy { id: aliceStates; target: alice; signalName: "stateReceived" }
    SignalSpy { id: aliceLeft; target: alice; signalName: "nodeLeft" }
    SignalSpy { id: aliceErrors; target: alice; signalName: "errorOccurred" }
    SignalSpy { id: aliceHostLost; target: alice; signalName: "hostLost" }
    SignalSpy { id: bobMessages; target: bob; signalName: "messageReceived" }
    SignalSpy { id: bobStates; target: bob; signalName: "stateReceived" }
    SignalSpy { id: hostStatus; target: host; signalName: "statusChanged" }
    SignalSpy { id: maxNodesSpy; target: host; signalName: "maxNodesChanged" }

    // The arguments of every signal a spy saw from `from`, as [fromId, data] pairs.
    function from(spy, fromId) {
        var out = []
        for (var i = 0; i < spy.count; ++i)
            if (spy.signalArguments[i][0] === fromId)
                out.push(spy.signalArguments[i][1])
        return out
    }

    function test_01_defaults() {
        var n = Qt.createQmlObject("import Clayground.Network; Network {}", testCase)
        compare(n.status, Network.Status.Disconnected)
        compare(n.connected, false)
        compare(n.topology, Network.Topology.Star)
        compare(n.signalingMode, Network.SignalingMode.Cloud)
        compare(n.maxNodes, 8)
        compare(n.autoRelay, true)
        compare(n.verbose, false)
        compare(n.connectionTimeout, 15000)
        compare(n.networkId, "")
        compare(n.nodeId, "")
        compare(n.isHost, false)
        compare(n.nodeCount, 0)
        compare(n.nodes, [])
        compare(n.latency, -1)
        compare(n.connectionPhase, "")
        compare(n.localAddress, "")
        compare(n.iceLocalAddresses, [])
        compare(n.iceCaFile, "")
        var caSpy = createTemporaryObject(signalSpyComponent, testCase,
                                          {target: n, signalName: "iceCaFileChanged"})
        n.iceCaFile = "/etc/ssl/certs/ca-certificates.crt"
        n.iceCaFile = "/etc/ssl/certs/ca-certificates.crt"
        compare(caSpy.count, 1)  // NOTIFY only on change
        compare(n.iceCaFile, "/etc/ssl/certs/ca-certificates.crt")
        compare(n.verifySignalingCertificate, true)
        var verifySpy = createTemporaryObject(signalSpyComponent, testCase,
                                              {target: n, signalName: "verifySignalingCertificateChanged"})
        n.verifySignalingCertificate = false
        n.verifySignalingCertificate = false
        compare(verifySpy.count, 1)
        compare(n.verifySignalingCertificate, false)
        var servers = ["stun:stun.example.org:3478",
                       {urls: "turn:turn.example.org:3478", username: "u", credential: "p"}]
        var iceSpy = createTemporaryObject(signalSpyComponent, testCase,
                                           {target: n, signalName: "iceServersChanged"})
        n.iceServers = servers
        compare(iceSpy.count, 1)
        compare(n.iceServers.length, 2)
        compare(n.iceServers[0], "stun:stun.example.org:3478")
        compare(n.iceServers[1].username, "u")
        n.iceServers = servers  // unchanged: no NOTIFY
        compare(iceSpy.count, 1)
        // Equivalent to what the getter returns (one entry per URL, empty fields dropped).
        var spelled = [{urls: ["stun:a.example.org:3478", "stun:b.example.org:3478"]},
                       {urls: "turn:turn.example.org:3478", username: "u", credential: "p"}]
        n.iceServers = spelled
        compare(iceSpy.count, 2)
        compare(n.iceServers.length, 3)
        n.iceServers = spelled  // the same again, though not in the getter's form
        compare(iceSpy.count, 2)
        n.iceServers = n.iceServers
        compare(iceSpy.count, 2)
        ignoreWarning(/Network: iceServers ignored: .+/)
        n.iceServers = ["http://not-a-stun-url"]
        compare(n.iceServers.length, 3)
        compare(Network.Status.Error !== Network.Status.Connected, true)
        compare(Network.Topology.Mesh !== Network.Topology.Star, true)
        n.destroy()
    }

    function test_02_notifyOnlyOnChange() {
        maxNodesSpy.clear()
        host.maxNodes = 3  // unchanged
        compare(maxNodesSpy.count, 0)
        host.maxNodes = 4
        compare(maxNodesSpy.count, 1)
        ignoreWarning(/maxNodes ignored: maxNodes must be between 2 and 8/)
        host.maxNodes = 20
        compare(host.maxNodes, 4)
        compare(maxNodesSpy.count, 1)
        host.maxNodes = 3
        compare(maxNodesSpy.count, 2)
    }

    function test_03_hostAndJoin() {
        host.host()
        tryCompare(created, "count", 1, timeoutMs)
        var code = created.signalArguments[0][0]
        verify(/^L[0-9A-Z]+-[0-9A-Z]+-[0-9A-Z]{8}$/.test(code), "LAN code: " + code)
        compare(host.networkId, code)
        compare(host.nodeId, "HOST")  // Clayground's Local host id; the code names the network
        compare(host.isHost, true)
        tryCompare(host, "status", Network.Status.Connected, timeoutMs)
        verify(hostStatus.count >= 1)

        alice.join(code)
        tryCompare(alice, "connected", true, timeoutMs)
        bob.join(code)
        tryCompare(bob, "connected", true, timeoutMs)
        tryCompare(host, "nodeCount", 3, timeoutMs)
        tryCompare(alice, "nodeCount", 3, timeoutMs)
        tryCompare(bob, "nodeCount", 3, timeoutMs)

        compare(hostJoined.count, 2)
        compare(hostJoined.signalArguments[0][0], alice.nodeId)
        compare(hostJoined.signalArguments[1][0], bob.nodeId)
        compare(host.nodes, [alice.nodeId, bob.nodeId])
        compare(alice.nodes.indexOf("HOST") >= 0 && alice.nodes.indexOf(bob.nodeId) >= 0, true)
        compare(alice.hostId, "HOST")
        compare(alice.networkId, code)
        compare(alice.isHost, false)
        compare(alice.status, Network.Status.Connected)
        compare(alice.connectionPhase, "")
        verify(alice.nodeId.length > 0 && alice.nodeId !== code)
        verify(alice.phaseTiming.total >= 0, JSON.stringify(alice.phaseTiming))
        verify(alice.phaseTiming.signaling !== undefined)
    }

    function test_04_lateConfigurationWarns() {
        ignoreWarning(/Network: maxNodes ignored: .+/)
        host.maxNodes = 5
        compare(host.maxNodes, 3)
        ignoreWarning(/Network: topology ignored: .+/)
        alice.topology = Network.Topology.Mesh
        compare(alice.topology, Network.Topology.Star)
        ignoreWarning(/Network: signalingMode ignored: .+/)
        host.signalingMode = Network.SignalingMode.Cloud
        compare(host.signalingMode, Network.SignalingMode.Local)
        ignoreWarning(/Network: host\(\) ignored: .+/)
        host.host()
        compare(created.count, 1)
    }

    function test_05_broadcastRoundTripsData() {
        var data = {
            type: "chat", text: "hello, everyone", count: 42, ratio: 1.5, negative: -7,
            yes: true, no: false, nothing: null, list: [1, "two", null, [3], {four: 4}],
            nested: {deep: {deeper: {value: "ok"}}}
        }
        alice.broadcast(data)
        tryVerify(function() { return from(hostMessages, alice.nodeId).length === 1 }, timeoutMs)
        tryVerify(function() { return from(bobMessages, alice.nodeId).length === 1 }, timeoutMs)
        compare(from(hostMessages, alice.nodeId)[0], data)
        compare(from(bobMessages, alice.nodeId)[0], data)  // relayed by the host
        compare(from(aliceMessages, alice.nodeId).length, 0)

        // Values that are not objects travel too.
        var values = ["text", 7, 2.25, true, false, null, [], {}, [1, [2, [3]]]]
        for (var i = 0; i < values.length; ++i)
            host.broadcast(values[i])
        tryVerify(function() { return from(aliceMessages, host.nodeId).length === values.length },
                  timeoutMs)
        var got = from(aliceMessages, host.nodeId)
        for (i = 0; i < values.length; ++i)
            compare(got[i], values[i], "value " + i)
    }

    // List properties are sequence wrappers, not arrays, in JavaScript; dates and integers must
    // keep the wire format of JSON.stringify.
    function test_05b_listsDatesAndIntegers() {
        aliceMessages.clear()
        hostMessages.clear()
        var when = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))
        host.broadcast({roster: host.nodes, addresses: host.iceLocalAddresses, when: when})
        host.broadcast(host.nodes)
        alice.broadcast({n: 3})
        tryVerify(function() { return from(aliceMessages, host.nodeId).length === 2 }, timeoutMs)
        tryVerify(function() { return from(hostMessages, alice.nodeId).length === 1 }, timeoutMs)
        var got = from(aliceMessages, host.nodeId)
        verify(Array.isArray(got[0].roster), JSON.stringify(got[0]))
        compare(JSON.stringify(got[0].roster), JSON.stringify([alice.nodeId, bob.nodeId]))
        verify(Array.isArray(got[0].addresses), JSON.stringify(got[0]))
        compare(JSON.stringify(got[0].addresses), '["127.0.0.1"]')
        compare(got[0].when, "2024-01-02T03:04:05.678Z")
        compare(got[0].when, JSON.parse(JSON.stringify(when)))
        verify(Array.isArray(got[1]), JSON.stringify(got[1]))
        compare(got[1].length, 2)
        var n = from(hostMessages, alice.nodeId)[0]
        verify(Number.isInteger(n.n))
        compare(JSON.stringify(n), '{"n":3}')
    }

    function test_06_broadcastState() {
        // State is lossy by design: send until both have one, a bounded number of times.
        for (var i = 0; i < 100; ++i) {
            host.broadcastState({x: 10, y: 20, seq: i})
            wait(50)
            if (from(aliceStates, host.nodeId).length > 0 && from(bobStates, host.nodeId).length > 0)
                break
        }
        var a = from(aliceStates, host.nodeId)
        var b = from(bobStates, host.nodeId)
        verify(a.length > 0 && b.length > 0, "state arrived at both joiners")
        compare(a[0].x, 10)
        compare(b[0].y, 20)
        compare(typeof a[0].seq, "number")
        // Not delivered as a message as well (compared by content: indexOf compares identity).
        var stateAsMessage = from(aliceMessages, host.nodeId).filter(function(m) {
            return m !== null && typeof m === "object" && m.seq !== undefined
        })
        compare(stateAsMessage.length, 0)
    }

    function test_07_sendTo() {
        aliceMessages.clear()
        bobMessages.clear()
        bob.sendTo(alice.nodeId, {dm: "just for alice"})
        tryVerify(function() { return from(aliceMessages, bob.nodeId).length === 1 }, timeoutMs)
        compare(from(aliceMessages, bob.nodeId)[0], {dm: "just for alice"})
        host.sendTo(bob.nodeId, {dm: "just for bob"})
        tryVerify(function() { return from(bobMessages, host.nodeId).length === 1 }, timeoutMs)
        compare(from(bobMessages, host.nodeId)[0], {dm: "just for bob"})
        compare(from(bobMessages, alice.nodeId).length, 0)

        ignoreWarning(/Network: sendTo\(\) ignored: .+/)
        alice.sendTo("NO-SUCH-NODE", {x: 1})
        ignoreWarning(/Network: broadcast\(\) ignored: data is undefined/)
        alice.broadcast(undefined)
    }

    // Clayground's own network demo (February 2026) divides a position by a play-area size that
    // can be 0. As JSON.stringify and Qt's JSON writer do, NaN and the infinities go as null and
    // the rest of the update arrives; the warning comes once per method and kind, not per call.
    function test_07b_nonFiniteNumbersGoAsNull() {
        aliceMessages.clear()
        aliceStates.clear()
        ignoreWarning(/^Network: broadcast\(\) data contains NaN - sent as null/)
        ignoreWarning(/^Network: broadcast\(\) data contains Infinity - sent as null/)
        ignoreWarning(/^Network: broadcast\(\) data contains -Infinity - sent as null/)
        ignoreWarning(/^Network: broadcastState\(\) data contains NaN - sent as null/)
        failOnWarning(/data contains/)  // any further one: the once-per-kind rule is broken
        var width = 0
        for (var i = 0; i < 5; ++i)
            host.broadcast({x: i / width, y: -1 / width, z: 0 / width, list: [NaN, i], ok: "yes"})
        tryVerify(function() { return from(aliceMessages, host.nodeId).length === 5 }, timeoutMs)
        var got = from(aliceMessages, host.nodeId)
        compare(JSON.stringify(got[0]), '{"list":[null,0],"ok":"yes","x":null,"y":null,"z":null}')
        compare(got[4].x, null)
        compare(got[4].list[1], 4)
        for (i = 0; i < 100 && from(aliceStates, host.nodeId).length === 0; ++i) {
            host.broadcastState({px: 10 / width * 0, seq: i})
            wait(20)
        }
        var states = from(aliceStates, host.nodeId)
        verify(states.length > 0, "a state update with NaN arrived")
        compare(states[0].px, null)
    }

    function test_08_leave() {
        var bobId = bob.nodeId
        bob.leave()
        compare(bob.status, Network.Status.Disconnected)
        compare(bob.networkId, "")
        compare(bob.nodeCount, 0)
        tryVerify(function() { return hostLeft.count === 1 }, timeoutMs)
        compare(hostLeft.signalArguments[0][0], bobId)
        tryVerify(function() { return aliceLeft.count === 1 }, timeoutMs)
        compare(aliceLeft.signalArguments[0][0], bobId)
        tryCompare(host, "nodeCount", 2, timeoutMs)
        compare(host.nodes, [alice.nodeId])

        var hostNode = host.nodeId
        host.leave()
        compare(host.status, Network.Status.Disconnected)
        compare(host.isHost, false)
        tryCompare(alice, "status", Network.Status.Disconnected, timeoutMs)
        verify(aliceErrors.count >= 1)
        compare(aliceErrors.signalArguments[aliceErrors.count - 1][0], "The host left the network")
        compare(aliceHostLost.count, 1)
        compare(aliceHostLost.signalArguments[0][0], "host-left")
        compare(aliceHostLost.signalArguments[0][1], "The host left the network")
        compare(alice.hostLostReason, "host-left")
        compare(aliceLeft.signalArguments[1][0], hostNode)
        compare(alice.connected, false)
        compare(alice.nodes, [])

        ignoreWarning(/Network: broadcast\(\) ignored: .+/)
        alice.broadcast({late: true})
    }

    function test_09_badCode() {
        var n = Qt.createQmlObject("import Clayground.Network; Network {}", testCase)
        var errors = createTemporaryObject(signalSpyComponent, testCase,
                                           {target: n, signalName: "errorOccurred"})
        ignoreWarning(/Network: join\(\) ignored: .+/)
        n.join("L!!!-??")
        tryCompare(errors, "count", 1, timeoutMs)
        verify(errors.signalArguments[0][0].length > 0)
        compare(n.status, Network.Status.Error)
        n.destroy()
    }

    // nodeCount is nodes + 1 while connected, else 0, so it changes with the status as well.
    function test_11_nodeCountNotifiesOnConnectAndLeave() {
        var n = createTemporaryQmlObject(
            "import Clayground.Network; Network { signalingMode: Network.SignalingMode.Local;"
            + " localAddress: \"127.0.0.1\"; iceLocalAddresses: [\"127.0.0.1\"] }", testCase)
        var counts = createTemporaryObject(signalSpyComponent, testCase,
                                           {target: n, signalName: "nodeCountChanged"})
        n.host()
        tryCompare(n, "connected", true, timeoutMs)
        compare(n.nodes, [])
        compare(n.nodeCount, 1)
        compare(counts.count, 1)
        n.leave()
        compare(n.nodeCount, 0)
        compare(counts.count, 2)
    }

    // Clayground's handshake: appId, password, clientToken, clientTokens, hostId, wireVersion
    // and joinRefused, between Network items of this process.
    function test_11b_handshake() {
        var node = "import Clayground.Network; Network { signalingMode: Network.SignalingMode.Local;"
            + " localAddress: \"127.0.0.1\"; iceLocalAddresses: [\"127.0.0.1\"];"
            + " connectionTimeout: 20000 }"
        var h = createTemporaryQmlObject(node, testCase)
        var good = createTemporaryQmlObject(node, testCase)
        var bad = createTemporaryQmlObject(node, testCase)
        compare(h.wireVersion, 5)
        compare(h.appId, "")
        compare(h.password, "")
        compare(h.clientToken, "")
        compare(h.hostId, "")
        compare(h.clientTokens, {})
        compare(h.gracePeriod, 5000)
        compare(h.hostLostReason, "")
        ignoreWarning(/Network: gracePeriod ignored: .+/)
        h.gracePeriod = -1
        compare(h.gracePeriod, 5000)
        var appSpy = createTemporaryObject(signalSpyComponent, testCase,
                                           {target: h, signalName: "appIdChanged"})
        h.appId = "arena"
        h.appId = "arena"
        compare(appSpy.count, 1)
        h.password = "pw1"
        good.appId = "arena"
        good.password = "pw1"
        good.clientToken = "alice"
        bad.appId = "arena"
        bad.password = "nope"
        var tokens = createTemporaryObject(signalSpyComponent, testCase,
                                           {target: h, signalName: "clientTokensChanged"})
        var refused = createTemporaryObject(signalSpyComponent, testCase,
                                            {target: bad, signalName: "joinRefused"})
        var badErrors = createTemporaryObject(signalSpyComponent, testCase,
                                              {target: bad, signalName: "errorOccurred"})
        compare(h.acceptingJoins, false)
        h.host()
        tryCompare(h, "connected", true, timeoutMs)
        compare(h.hostId, "HOST")
        compare(h.acceptingJoins, true)
        ignoreWarning(/Network: password ignored: cannot change password while in a network.*/)
        h.password = "other"
        compare(h.password, "pw1")

        good.join(h.networkId)
        tryCompare(good, "connected", true, timeoutMs)
        compare(good.hostId, "HOST")
        verify(good.phaseTiming.handshake >= 0, JSON.stringify(good.phaseTiming))
        tryVerify(function() { return h.clientTokens[good.nodeId] === "alice" }, timeoutMs)
        compare(tokens.count, 1)
        compare(good.clientTokens, {})
        compare(good.acceptingJoins, false)

        bad.join(h.networkId)
        tryCompare(refused, "count", 1, timeoutMs)
        compare(refused.signalArguments[0][0], "wrong-password")
        compare(refused.signalArguments[0][1], "Wrong password")
        compare(badErrors.count, 1)
        compare(badErrors.signalArguments[0][0], "Wrong password")
        compare(bad.status, Network.Status.Error)
        compare(h.nodes, [good.nodeId])

        // The session clock, keyed state in batches, sentAt, transitMs and stateAgeMs.
        verify(h.sessionTimeSynced)
        verify(h.sessionTime >= 0)
        tryCompare(good, "sessionTimeSynced", true, timeoutMs)
        verify(Math.abs(good.sessionTime - h.sessionTime) < 50,
               good.sessionTime + " vs " + h.sessionTime)
        var states = createTemporaryObject(signalSpyComponent, testCase,
                                           {target: h, signalName: "stateReceived"})
        compare(h.stateAgeMs(good.nodeId), -1)
        good.broadcastState({x: 1}, "p1")
        good.broadcastState({x: 2}, "p1")
        good.broadcastState({y: 1}, "p2")
        tryCompare(states, "count", 2, timeoutMs)
        compare(states.signalArguments[0][0], good.nodeId)
        compare(states.signalArguments[0][1], {x: 2})
        verify(states.signalArguments[0][2] >= 0, "sentAt " + states.signalArguments[0][2])
        compare(states.signalArguments[0][3], "p1")
        compare(states.signalArguments[1][3], "p2")
        verify(h.stateAgeMs(good.nodeId) >= 0)
        verify(h.stateAgeMs(good.nodeId, "p2") >= 0)
        compare(h.stateAgeMs(good.nodeId, "nope"), -1)
        var transit = h.transitMs(good.nodeId)
        verify(transit > -10 && transit < 100, "transitMs " + transit)
        verify(isNaN(h.transitMs("nobody")))

        // sessionTimeSynced turns false on leaving, and says so (NOTIFY on every real change).
        var synced = createTemporaryObject(signalSpyComponent, testCase,
                                           {target: good, signalName: "sessionTimeSyncedChanged"})
        good.leave()
        compare(good.sessionTimeSynced, false)
        tryCompare(synced, "count", 1, timeoutMs)
        tryVerify(function() { return Object.keys(h.clientTokens).length === 0 }, timeoutMs)
        compare(synced.count, 1)
        h.leave()
        compare(h.hostId, "")
    }

    // latency, peerStats and syncStats are always on (Clayground's v5); verbose adds only
    // diagnostics, so toggling it changes none of them.
    function test_12_statsAreAlwaysOn() {
        var n = createTemporaryQmlObject("import Clayground.Network; Network {}", testCase)
        var stats = createTemporaryObject(signalSpyComponent, testCase,
                                          {target: n, signalName: "peerStatsChanged"})
        n.verbose = true
        n.verbose = false
        compare(stats.count, 0)
        compare(n.peerStats, {})
        compare(n.syncStats, {})
    }

    // Clayground's Network is an Item, so objects are declared inside it.
    function test_13_children() {
        var n = createTemporaryQmlObject(
            "import QtQuick; import Clayground.Network; Network {"
            + " property alias tick: timer; property int fired: 0;"
            + " Timer { id: timer; interval: 1; onTriggered: parent.fired++ }"
            + " QtObject { objectName: \"second\" } }", testCase)
        compare(n.data.length, 2)
        compare(n.data[1].objectName, "second")
        n.tick.start()
        tryCompare(n, "fired", 1, timeoutMs)
    }

    // Mesh: every node links to every other; with verbose, diagnostics and peerStats appear.
    function test_10_meshWithDiagnostics() {
        var make = function() {
            return createTemporaryQmlObject(
                "import Clayground.Network; Network { signalingMode: Network.SignalingMode.Local;"
                + " localAddress: \"127.0.0.1\"; iceLocalAddresses: [\"127.0.0.1\"];"
                + " topology: Network.Topology.Mesh; verbose: true }", testCase)
        }
        var h = make(), x = make(), y = make()
        var diagnostics = createTemporaryObject(signalSpyComponent, testCase,
                                                {target: x, signalName: "diagnosticMessage"})
        var yMessages = createTemporaryObject(signalSpyComponent, testCase,
                                              {target: y, signalName: "messageReceived"})
        var hCreated = createTemporaryObject(signalSpyComponent, testCase,
                                             {target: h, signalName: "networkCreated"})
        h.host()
        tryCompare(hCreated, "count", 1, timeoutMs)
        x.join(h.networkId)
        tryCompare(x, "connected", true, timeoutMs)
        y.join(h.networkId)
        tryCompare(h, "nodeCount", 3, timeoutMs)
        tryCompare(x, "nodeCount", 3, timeoutMs)
        tryCompare(y, "nodeCount", 3, timeoutMs)
        compare(x.topology, Network.Topology.Mesh)
        verify(diagnostics.count > 0)
        compare(typeof diagnostics.signalArguments[0][0], "string")

        x.sendTo(y.nodeId, {mesh: "direct"})
        tryVerify(function() { return from(yMessages, x.nodeId).length === 1 }, timeoutMs)
        compare(from(yMessages, x.nodeId)[0], {mesh: "direct"})
        // x and y are linked directly, so x counts messages to y (not 0 as through a host).
        tryVerify(function() { var s = x.peerStats[y.nodeId]; return s && s.msgSent > 0 },
                  timeoutMs, JSON.stringify(x.peerStats))
        y.leave()
        x.leave()
        h.leave()
    }

    Component { id: signalSpyComponent; SignalSpy {} }
}
