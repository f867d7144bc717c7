// Starts GraphiQL on the `/graphql` page. A served file, not an inline script, so that the
// page's Content-Security-Policy can allow scripts from this server only.
(function () {
  'use strict';

  // What a new tab's headers panel holds: the user pastes the key after `Bearer `.
  var PREFILL = '{\n  "Authorization": "Bearer "\n}';
  var NAMESPACE = 'graphiql:';
  var TABS = NAMESPACE + 'tabState';

  // GraphiQL's own storage, except that tabs restored without headers (GraphiQL stores
  // them without headers unless "Persist headers" is on in its settings, so the key is
  // not written to disk) get the prefill back instead of an empty panel after a reload.
  var storage = {
    getItem: function (key) {
      var value = window.localStorage.getItem(key);
      if (key !== TABS || !value) {
        return value;
      }
      try {
        var state = JSON.parse(value);
        (state.tabs || []).forEach(function (tab) {
          if (!tab.headers) {
            tab.headers = PREFILL;
          }
        });
        return JSON.stringify(state);
      } catch (error) {
        return value;
      }
    },
    setItem: function (key, value) {
      window.localStorage.setItem(key, value);
    },
    removeItem: function (key) {
      window.localStorage.removeItem(key);
    },
    clear: function () {
      Object.keys(window.localStorage).forEach(function (key) {
        if (key.indexOf(NAMESPACE) === 0) {
          window.localStorage.removeItem(key);
        }
      });
    },
    get length() {
      return Object.keys(window.localStorage).filter(function (key) {
        return key.indexOf(NAMESPACE) === 0;
      }).length;
    }
  };

  var httpFetcher = GraphiQL.createFetcher({
    // The page is served at the endpoint's own path (GET page, POST queries), also
    // behind a proxy that mounts the service under a prefix.
    url: window.location.pathname,
    enableIncrementalDelivery: false
  });

  // The key in an Authorization header ('' when it is missing or still empty).
  function bearerKey(headers) {
    for (var name in headers || {}) {
      if (name.toLowerCase() === 'authorization') {
        var match = /^\s*bearer\s+(\S+)/i.exec(String(headers[name]));
        return match ? match[1] : '';
      }
    }
    return '';
  }

  function parseHeaders(text) {
    try {
      return JSON.parse(text || '{}');
    } catch (error) {
      return null;
    }
  }

  // GraphiQL's own schema query (graphql-js's) nests `ofType` nine levels deep, past the
  // server's depth limit of 12, which refuses it. The same query with six levels fits and
  // still describes types wrapped up to [[T!]!]! and deeper.
  var TYPE_REF = 'kind name';
  for (var level = 0; level < 6; level++) {
    TYPE_REF = 'kind name ofType { ' + TYPE_REF + ' }';
  }
  var INTROSPECTION_QUERY = [
    'query IntrospectionQuery {',
    '  __schema {',
    '    queryType { name }',
    '    mutationType { name }',
    '    subscriptionType { name }',
    '    types { ...FullType }',
    '    directives { name description locations args { ...InputValue } }',
    '  }',
    '}',
    'fragment FullType on __Type {',
    '  kind name description',
    '  fields(includeDeprecated: true) {',
    '    name description args { ...InputValue } type { ...TypeRef }',
    '    isDeprecated deprecationReason',
    '  }',
    '  inputFields { ...InputValue }',
    '  interfaces { ...TypeRef }',
    '  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }',
    '  possibleTypes { ...TypeRef }',
    '}',
    'fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }',
    'fragment TypeRef on __Type { ' + TYPE_REF + ' }'
  ].join('\n');

  var NO_KEY = {
    errors: [{ message: 'Paste your API key after "Bearer " in the Headers panel to load the schema.' }]
  };

  // GraphiQL loads the schema once, when the page opens and before a key can have been
  // pasted, and again only when its fetcher changes. So: no request for the schema without
  // a key (it could only answer 401), and a new fetcher once a key has been pasted.
  function Page() {
    var generationState = React.useState(0);
    var setGeneration = generationState[1];
    var lastKey = React.useRef('');
    var pending = React.useRef(null);

    var fetcher = React.useMemo(function () {
      return function (params, options) {
        var introspection = params.operationName === 'IntrospectionQuery';
        if (!introspection) {
          return httpFetcher(params, options);
        }
        if (!bearerKey(options && options.headers)) {
          return Promise.resolve(NO_KEY);
        }
        return httpFetcher(
          { query: INTROSPECTION_QUERY, operationName: 'IntrospectionQuery' },
          options
        );
      };
    }, [generationState[0]]);

    function onEditHeaders(text) {
      window.clearTimeout(pending.current);
      // Wait until the paste or typing is over: one schema request, not one per key press.
      pending.current = window.setTimeout(function () {
        var key = bearerKey(parseHeaders(text));
        if (key && key !== lastKey.current) {
          lastKey.current = key;
          setGeneration(function (generation) {
            return generation + 1;
          });
        }
      }, 400);
    }

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      onEditHeaders: onEditHeaders,
      defaultHeaders: PREFILL,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: 'headers',
      storage: storage
    });
  }

  var DEFAULT_QUERY =
    '# Paste your API key after "Bearer " in the Headers panel below, then run (Ctrl-Enter).\n' +
    '{\n' +
    '  customers(first: 5) {\n' +
    '    totalCount\n' +
    '    nodes {\n' +
    '      id\n' +
    '      externalId\n' +
    '      orderCount\n' +
    '      totalSpent\n' +
    '    }\n' +
    '  }\n' +
    '}\n';

  ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(Page));
})();
