//! The table of messages: each line is one [`Msg`] variant with its Chinese and English text.
//! Placeholders are the variant's fields (`{name}`, `{value:?}` for a quoted value).

use super::{Lang, wechat};

messages! {
    // --- Campaigns ------------------------------------------------------------------------
    KindInvalid { value: String }
        => zh "类型只能是 permanent（永久码）或 temporary（临时码），不能是 {value:?}",
           en "kind must be permanent or temporary, not {value:?}";
    CampaignNameEmpty => zh "请填写活动名称", en "enter a name for the campaign";
    NameTooLong { n: usize, max: usize }
        => zh "名称有 {n} 个字，最多 {max} 个", en "the name has {n} characters; at most {max} are allowed";
    NameControl => zh "名称里不能有换行或其他控制字符", en "the name may not contain line breaks or other control characters";
    GroupTooLong { n: usize, max: usize }
        => zh "分组名有 {n} 个字，最多 {max} 个", en "the group has {n} characters; at most {max} are allowed";
    GroupControl => zh "分组名里不能有换行或其他控制字符", en "the group may not contain line breaks or other control characters";
    TagTooLong { n: usize, max: usize }
        => zh "标签名有 {n} 个字，最多 {max} 个", en "the tag name has {n} characters; at most {max} are allowed";
    TagControl => zh "标签名里不能有换行或其他控制字符", en "the tag name may not contain line breaks or other control characters";
    DaysMissing { max: i32 }
        => zh "请填写临时码的有效天数（1 到 {max} 天）", en "enter how many days the temporary code lives (1 to {max})";
    DaysOutOfRange { max: i32, days: i32 }
        => zh "临时码的有效期是 1 到 {max} 天（微信的上限），不能是 {days} 天",
           en "a temporary code lives 1 to {max} days (WeChat's limit), not {days}";
    DaysNotNumber { value: String }
        => zh "有效天数必须是整数，不能是 {value:?}", en "expire_days must be a whole number of days, not {value:?}";
    SceneIdOutOfRange { id: u64 }
        => zh "场景值 {id} 超出范围：请用 1 到 100000", en "scene id {id} is out of range: use 1 to 100000";
    SceneTextLength { n: usize }
        => zh "文字场景值要有 1 到 64 个字符，现在是 {n} 个", en "scene string must have 1 to 64 characters, not {n}";
    SceneTextControl => zh "文字场景值里不能有控制字符", en "scene string contains a control character";
    SceneTaken { scene: String, holder: String }
        => zh "场景值 {scene} 已被活动“{holder}”使用", en "scene {scene} is already used by campaign \"{holder}\"";
    ApiKeyNameEmpty => zh "请给这个 API 密钥起个名字（比如用它的报表或工具）", en "enter a name for the key (the report or tool that uses it)";
    ApiKeyNameTooLong { n: usize, max: usize }
        => zh "密钥名称有 {n} 个字，最多 {max} 个", en "the key's name has {n} characters; at most {max} are allowed";
    ApiKeyNameControl => zh "密钥名称里不能有换行或其他控制字符", en "the key's name may not contain line breaks or other control characters";
    ApiKeyDays { days: String, max: i64 }
        => zh "有效天数要是 1 到 {max} 的整数，不能是 {days:?}；留空则永不过期", en "expires_days must be a whole number from 1 to {max}, not {days:?}; leave it blank for a key that does not expire";
    ApiKeyRevoked => zh "这个密钥已经撤销了", en "this key is already revoked";
    ShareDays { days: String, max: i64 }
        => zh "有效天数要是 1 到 {max} 的整数，不能是 {days:?}；留空则一直有效，直到撤销", en "expires_days must be a whole number from 1 to {max}, not {days:?}; leave it blank for a link that works until revoked";
    ShareArchived
        => zh "这个活动已归档：请先恢复它，再分享", en "this campaign is archived; restore it before sharing it";
    ShareNoGroup => zh "这个活动不属于任何分组", en "this campaign is in no group";
    ShareRevoked => zh "这个分享链接已经撤销了", en "this share link is already revoked";
    PublicLinkArchived
        => zh "这个活动已归档：请先恢复它，再开启公开图片链接",
           en "this campaign is archived; restore it before turning its public link on";
    SceneTakenArchived { scene: String, holder: String }
        => zh "场景值 {scene} 已被活动“{holder}”（已归档）使用", en "scene {scene} is already used by campaign \"{holder}\" (archived)";
    SceneTakenByAnother { scene: String }
        => zh "场景值 {scene} 已被这个公众号的另一个活动使用", en "scene {scene} is already used by another campaign of this account";
    SceneHeldForever { scene: String }
        => zh "场景值 {scene} 属于一个已删除的活动，它的永久码仍然有效（微信不会收回二维码）；请换一个场景值",
           en "scene {scene} belonged to a deleted campaign whose permanent code still works (WeChat never takes a code back); choose another scene";
    SceneHeldUntil { scene: String, until: String }
        => zh "场景值 {scene} 属于一个已删除的活动，它的二维码到 {until}（UTC）前仍然有效；请换一个场景值，或到期后再用",
           en "scene {scene} belonged to a deleted campaign whose code works until {until} UTC; choose another scene, or use this one after that";
    ScenesExhausted
        => zh "这个公众号的数字场景值（1 到 100000）都已用完；请填写文字场景值",
           en "every numeric scene (1 to 100000) of this account is used; type a text scene instead";
    CampaignNameTaken { name: String }
        => zh "这个公众号下已经有名为“{name}”的活动", en "another campaign of this account is already called \"{name}\"";
    CampaignNameTakenOnRestore { name: String }
        => zh "这个公众号下现在已有名为“{name}”的活动；请先给其中一个改名，再恢复这个活动",
           en "another campaign of this account is now called \"{name}\"; rename one of them before restoring this one";
    PermanentQuotaFull
        => zh "这个公众号已用完微信允许的 100 000 个永久码（已归档和已删除活动的码也算：微信不会退还）；请改用临时码，或恢复一个已归档的活动继续用它的码",
           en "this account has used all 100 000 permanent codes WeChat allows (archived and deleted campaigns still count: WeChat never gives codes back); use a temporary code, or restore an archived campaign and reuse its code";
    AccountRequired => zh "请选择一个微信公众号", en "choose a WeChat account";
    CampaignHasScans
        => zh "这个活动已有扫码记录，不能删除；请改为归档，这样历史数据仍保留在图表里",
           en "it has recorded scans; archive it instead so its history stays in the charts";
    StatusUnknown { value: String }
        => zh "没有 {value:?} 这种状态：请用 active、expiring、expired、archived、no_code 或 all",
           en "unknown status {value:?}: use active, expiring, expired, archived, no_code or all";
    WelcomeTextEmpty => zh "请填写欢迎语的内容", en "enter the text of the welcome message";
    WelcomeTextTooLong { n: usize, max: usize }
        => zh "欢迎语有 {n} 个字，最多 {max} 个", en "the welcome text has {n} characters; at most {max} are allowed";
    ArticleTitleLength { n: usize, max: usize }
        => zh "图文标题要有 1 到 {max} 个字，现在是 {n} 个", en "the article title must have 1 to {max} characters, not {n}";
    ArticleDescriptionTooLong { n: usize, max: usize }
        => zh "图文摘要有 {n} 个字，最多 {max} 个", en "the article description has {n} characters; at most {max} are allowed";
    ArticleLinkInvalid
        => zh "图文链接必须是以 http:// 或 https:// 开头的完整网址", en "the article link must be a full http:// or https:// address";
    ArticlePictureInvalid
        => zh "图文图片必须是以 http:// 或 https:// 开头的完整网址", en "the article picture must be a full http:// or https:// address";
    RenewArchived
        => zh "这个活动已归档；请先恢复它，再更新二维码", en "this campaign is archived; restore it before renewing its code";
    RenewPermanent
        => zh "永久码不会过期；只有临时码需要更新", en "permanent codes never expire; only temporary codes are renewed";
    DaysEnterNumber => zh "请填写天数（1 到 30）", en "enter the number of days (1 to 30)";
    UnknownAction => zh "不支持这个操作", en "unknown action";

    // --- CSV import -----------------------------------------------------------------------
    CsvMissing => zh "请先粘贴或选择一个 CSV 文件", en "paste or choose a CSV file first";
    CsvTooLarge { kib: usize }
        => zh "文件有 {kib} KiB，最多只接受 1 MiB；请拆成几个文件", en "the file is {kib} KiB; at most 1 MiB is accepted, split it into several files";
    CsvTooManyRows { max: usize }
        => zh "文件超过 {max} 行；请拆成几个文件", en "the file has more than {max} rows; split it into several files";
    CsvNoRows
        => zh "文件里没有活动行（格式：name,scene,kind[,group,expire_days]）", en "the file has no campaign rows (name,scene,kind[,group,expire_days])";
    CsvUnreadable { detail: String }
        => zh "这一行无法按 CSV 读取：{detail}", en "this line cannot be read as CSV: {detail}";
    CsvColumns { found: usize }
        => zh "应有 3 到 5 列（name,scene,kind[,group,expire_days]），实际有 {found} 列",
           en "expected 3 to 5 columns (name,scene,kind[,group,expire_days]), found {found}";
    CsvSceneRepeated { scene: String, line: u64 }
        => zh "场景值 {scene} 在第 {line} 行也出现了", en "scene {scene} is also on line {line}";
    CsvNameRepeated { name: String, line: u64 }
        => zh "名称“{name}”在第 {line} 行也出现了", en "the name \"{name}\" is also on line {line}";
    CsvRowOverQuota { used: u64 }
        => zh "这一行会超出公众号 100 000 个永久码的上限（已用 {used} 个）；请改成临时码",
           en "this row would exceed the account's 100 000 permanent codes ({used} already used); make it temporary";
    CsvNoSceneLeft
        => zh "这个公众号已经没有空闲的数字场景值（1 到 100000）；请给这一行填写文字场景值",
           en "no numeric scene (1 to 100000) is left in this account; give this row a text scene";

    // --- Users ----------------------------------------------------------------------------
    RoleInvalid => zh "角色只能是 admin（管理员）或 staff（员工）", en "role must be admin or staff";
    UsernameLength => zh "用户名要有 1 到 64 个字符", en "username must be 1–64 characters";
    UsernameChars
        => zh "用户名只能包含字母、数字和 . _ - @", en "username may contain letters, digits, '.', '_', '-' and '@' only";
    PasswordTooShort { min: usize } => zh "密码至少要有 {min} 个字符", en "password must have at least {min} characters";
    PasswordTooLong => zh "密码太长了", en "password is too long";
    UsernameTaken { username: String } => zh "用户名 {username} 已被使用", en "the username {username} is already taken";
    LastAdmin
        => zh "这是最后一位管理员：请先把另一位用户设为管理员",
           en "this is the last administrator: make someone else an administrator first";
    UnknownChange => zh "不支持这个修改", en "unknown change";
    // The sign-in limiter's wait (units abbreviated: no plural to get wrong).
    SignInWaitSeconds { n: u64 }
        => zh "登录失败次数过多，请 {n} 秒后再试。", en "Too many failed sign-ins. Try again in {n} s.";
    SignInWaitMinutes { n: u64 }
        => zh "登录失败次数过多，请 {n} 分钟后再试。", en "Too many failed sign-ins. Try again in {n} min.";

    // --- WeChat accounts ------------------------------------------------------------------
    MessageModeInvalid
        => zh "消息加解密方式只能是 plain（明文）、compat（兼容）或 safe（安全）", en "message mode must be plain, compat or safe";
    AccountNameEmpty => zh "请填写公众号名称", en "enter a name for the account";
    AccountNameControl => zh "名称里不能有控制字符", en "the name may not contain control characters";
    AppIdInvalid
        => zh "AppID 是 wx 加 16 位字符（0–9、a–f）；请从微信公众平台复制（设置与开发 › 基本配置）",
           en "the AppID is \"wx\" followed by 16 characters 0–9 and a–f; copy it from the WeChat admin console (Settings and Development › Basic Configuration)";
    AppIdTaken { app_id: String, name: String }
        => zh "AppID {app_id} 已被公众号“{name}”使用", en "the AppID {app_id} is already used by the account \"{name}\"";
    AppIdTakenByAnother { app_id: String }
        => zh "AppID {app_id} 已被另一个公众号使用", en "the AppID {app_id} is already used by another account";
    AppSecretMissing
        => zh "请填写 AppSecret（微信公众平台 › 基本配置）", en "enter the AppSecret (WeChat admin console › Basic Configuration)";
    AppSecretAgain
        => zh "更改 API 地址或 AppID 时，请重新填写 AppSecret（已保存的 AppSecret 只发往原来的地址）",
           en "enter the AppSecret again to change the API base URL or the AppID (the stored one is only sent where it was entered for)";
    AppSecretTooLong => zh "AppSecret 太长了（最多 128 个字符）", en "the AppSecret is too long (at most 128 characters)";
    AppSecretChars
        => zh "AppSecret 只能包含字母、数字和标点，不能有空格", en "the AppSecret may contain only letters, digits and punctuation, without spaces";
    TokenInvalid
        => zh "Token 要有 3 到 32 个字母或数字，并与微信后台“服务器配置”里填写的一致",
           en "the Token must be 3–32 letters or digits, the same as entered in WeChat's server configuration";
    AesKeyInvalid
        => zh "EncodingAESKey 必须正好是 43 个字母、数字、+ 或 /，与微信后台显示的一致",
           en "the EncodingAESKey must be exactly 43 letters, digits, '+' or '/', as shown in WeChat";
    AesKeyNeeded { mode: String }
        => zh "{mode} 加解密方式需要 EncodingAESKey；请填写它，或改用明文（plain）方式",
           en "the {mode} message mode needs the EncodingAESKey; enter it or choose the plain mode";
    ApiBaseNotUrl
        => zh "API 地址不是有效的网址，例如 https://api.weixin.qq.com", en "the API base URL is not a valid URL, e.g. https://api.weixin.qq.com";
    ApiBaseScheme => zh "API 地址必须以 http:// 或 https:// 开头", en "the API base URL must start with http:// or https://";
    ApiBaseHttpNotLoopback
        => zh "API 地址必须以 https:// 开头（只有本机地址 127.0.0.1、::1、localhost 可以用 http://，例如模拟器）",
           en "the API base URL must start with https:// (http:// only for this machine: 127.0.0.1, ::1 or localhost, e.g. the simulator)";
    ApiBaseHost => zh "API 地址必须包含主机名", en "the API base URL must name a host";
    ApiBaseQuery => zh "API 地址不能带查询参数（?…）或锚点（#…）", en "the API base URL may not have a query (?…) or fragment (#…)";
    ApiBaseCredentials => zh "API 地址里不能有用户名或密码", en "the API base URL may not contain a user name or password";
    ApiBaseTooLong => zh "API 地址太长了（最多 255 个字符）", en "the API base URL is too long (at most 255 characters)";
    TimezoneUnknown { name: String }
        => zh "{name} 不是已知的时区；请用 IANA 名称，例如 Asia/Shanghai",
           en "{name} is not a known time zone; use an IANA name such as Asia/Shanghai";
    Connected => zh "已连接：微信发放了 access token。", en "Connected: WeChat issued an access token.";

    // --- Reaching WeChat ------------------------------------------------------------------
    WechatUnreachable { detail: String }
        => zh "无法连接微信服务器（{detail}）；请检查服务器的网络", en "could not reach WeChat: {detail}";
    WechatUnreachableAt { base: String, detail: String }
        => zh "无法连接 {base}：{detail}；请检查服务器的网络和 API 地址", en "cannot reach {base}: {detail}";
    WechatTimeout { detail: String }
        => zh "微信没有及时响应（{detail}）；请稍后再试", en "WeChat did not answer in time ({detail})";
    WechatTimeoutAt { base: String, detail: String }
        => zh "{base} 没有及时响应（{detail}）；请稍后再试", en "{base} did not answer in time ({detail})";
    WechatBadAnswer { detail: String }
        => zh "微信返回了无法识别的内容（{detail}）", en "unexpected answer from WeChat: {detail}";
    WechatBadAnswerAt { base: String, detail: String }
        => zh "{base} 的响应不像微信接口（{detail}）；请检查 API 地址",
           en "{base} did not answer like WeChat's API ({detail}); check the API base URL";
    WechatRefusedLocally { detail: String }
        => zh "请求在发送前就被拒绝了：{detail}", en "the request was refused before sending: {detail}";
    TokenStoreFailed
        => zh "服务器无法读取或保存 access token；请查看服务器日志",
           en "the server could not read or store the access token; see the server log";

    // --- Charts and comparisons -----------------------------------------------------------
    GranularityInvalid { value: String }
        => zh "时间粒度请用 hour（小时）、day（天）、week（周）或 month（月），不能是 {value:?}",
           en "use hour, day, week or month (not {value:?})";
    DateOutOfRange { date: String }
        => zh "日期 {date} 超出范围；请用 1970 到 9999 年之间的日期", en "{date} is out of range; use a date between 1970 and 9999";
    RangeReversed { from: String, to: String }
        => zh "开始日期必须早于或等于结束日期（{from} 晚于 {to}）", en "must be on or before to ({from} is after {to})";
    RangeTooLong { from: String, to: String, days: i64, max: i64 }
        => zh "{from} 到 {to} 共 {days} 天；最多 {max} 天", en "the range {from} to {to} is {days} days; at most {max} fit";
    HourRangeTooLong { max: i64, days: i64 }
        => zh "按小时最多显示 {max} 天；{days} 天请选择按天、按周或按月",
           en "hour covers at most {max} days; choose day, week or month for {days} days";
    DateInvalid { value: String } => zh "{value:?} 不是日期；请用 YYYY-MM-DD 格式", en "{value:?} is not a date; use YYYY-MM-DD";
    DaysInvalid { value: String, max: i64 }
        => zh "{value:?} 不是 1 到 {max} 之间的天数（也可以用 today、yesterday、month）",
           en "{value:?} is not a number of days from 1 to {max} (or today, yesterday, month)";
    MetricUnknown { value: String }
        => zh "{value:?} 不是可用的指标；请用 scans、new_followers、unsubscribes、net_followers 或 unique_scanners",
           en "{value:?} is not a metric; use scans, new_followers, unsubscribes, net_followers or unique_scanners";
    CompareTooFew => zh "请至少选择两个活动，或一个分组", en "choose at least two campaigns, or a group";
    CompareGroupEmpty { group: String }
        => zh "分组 {group:?} 里没有进行中的活动", en "no live campaign is in the group {group:?}";
    CompareTooMany { max: usize } => zh "一次最多比较 {max} 个活动", en "compare at most {max} campaigns at once";
    CompareMissing { id: String } => zh "没有编号为 {id} 的活动", en "there is no campaign {id}";
    CampaignIdInvalid { value: String } => zh "{value:?} 不是活动编号", en "{value:?} is not a campaign id";

    // --- Logos and code images ------------------------------------------------------------
    LogoMissing => zh "请先选择一个 PNG 文件", en "choose a PNG file first";
    UploadUnreadable { detail: String } => zh "上传的文件无法读取：{detail}", en "the upload could not be read: {detail}";
    LogoTooLarge { bytes: usize }
        => zh "Logo 文件有 {bytes} 字节；最大 1 MiB", en "the logo file is {bytes} bytes; at most 1 MiB is allowed";
    LogoDimensions { width: u32, height: u32, max: u32 }
        => zh "Logo 是 {width}×{height} 像素；最大 {max}×{max}", en "the logo is {width}×{height} px; at most {max}×{max} is allowed";
    LogoNotPng => zh "Logo 必须是 PNG 图片", en "the logo must be a PNG image";
    LogoInvalid { detail: String } => zh "Logo 无法读取：{detail}", en "the logo could not be read: {detail}";
    LogoNotSaved => zh "服务器没能保存 Logo；请重试", en "the server could not save the logo; please try again";
    ZipTooMany { max: usize } => zh "一次最多下载 {max} 个二维码", en "at most {max} codes fit in one download";
    HeavyBusy
        => zh "服务器正忙于生成其他图片，请稍后再试",
           en "the server is busy drawing other images; try again in a moment";
    ImageProblem { detail: String } => zh "无法生成二维码图片：{detail}", en "{detail}";
    NotFound => zh "找不到", en "not found";

    // --- Digests -------------------------------------------------------------------------
    DigestHour => zh "发送时间请选 0 到 23 点", en "choose a sending hour from 0 to 23";
    DigestWebhookNotUrl => zh "企业微信机器人地址不是有效的网址", en "the WeCom robot address is not a valid URL";
    DigestWebhookHttps
        => zh "企业微信机器人地址必须以 https:// 开头（http 只允许本机地址）",
           en "the WeCom robot address must start with https:// (http only for this machine)";
    DigestWebhookNoKey
        => zh "地址里缺少 key 参数：请复制群机器人的完整 Webhook 地址",
           en "the address has no key parameter: copy the group robot's whole webhook address";
    DigestEmailInvalid { address: String } => zh "“{address}” 不是有效的邮箱地址", en "“{address}” is not a valid email address";
    DigestEmailTooMany { max: usize } => zh "最多填写 {max} 个收件人", en "at most {max} recipients";
    DigestNoSmtp
        => zh "这台服务器没有配置发信（SCENEBOARD_SMTP_URL），暂时不能发邮件",
           en "this server has no mail server configured (SCENEBOARD_SMTP_URL), so it cannot send email";
    DigestNoChannel
        => zh "请先填写企业微信机器人地址或收件人，保存后再发送测试",
           en "enter a WeCom robot address or recipients and save them before sending a test";

    // --- Demo data ------------------------------------------------------------------------
    SimulatorNoCode { detail: String }
        => zh "模拟器没有生成二维码：{detail}", en "the simulator did not issue a code: {detail}";
}
