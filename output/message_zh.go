package output

import (
	"fmt"
	"strings"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// chinese is the catalog of language "zh". Kubernetes' own words (OOMKilled,
// CrashLoopBackOff, MemoryPressure, deployment/checkout, SIGKILL) stay as
// they are: they are what users search for.
var chinese = messages{
	checkerName: "Kubernetes Pod 重启",
	titles: map[detect.Kind]string{
		detect.KindAnomaly:    "%[4]s/%[5]s 最近 %[6]s 内 %[2]d 个 Pod 中有 %[1]d 个重启（%[3]s）",
		detect.KindEscalation: "%[4]s/%[5]s 最近 %[6]s 内 %[2]d 个 Pod 中有 %[1]d 个重启（%[3]s），级别由 %[8]s 升至 %[7]s",
		detect.KindReminder:   "%[4]s/%[5]s 最近 %[6]s 内 %[2]d 个 Pod 中有 %[1]d 个重启（%[3]s），已持续 %[9]s，仍为 %[7]s",
		detect.KindRecovery:   "%[4]s/%[5]s 的 Pod 重启已恢复，历时 %[9]s：最近 %[6]s 内 %[2]d 个 Pod 中有 %[1]d 个重启（%[3]s）",
	},
	headings: map[detect.Kind]string{
		detect.KindAnomaly:    "%[4]s/%[5]s 的 Pod 异常重启",
		detect.KindEscalation: "%[4]s/%[5]s 的 Pod 重启由 %[8]s 升至 %[7]s",
		detect.KindReminder:   "%[4]s/%[5]s 的 Pod 仍在异常重启",
		detect.KindRecovery:   "%[4]s/%[5]s 的 Pod 重启已恢复正常",
	},
	levels: map[detect.Level]string{
		detect.LevelNone: "正常", detect.LevelWarning: "警告", detect.LevelError: "错误", detect.LevelCritical: "严重",
	},
	kinds: map[detect.Kind]string{
		detect.KindAnomaly: "异常", detect.KindEscalation: "升级", detect.KindReminder: "提醒", detect.KindRecovery: "恢复",
	},
	labelEvent:         "事件",
	labelStatus:        "状态",
	labelPrevious:      "之前状态",
	labelHighest:       "本次故障最高级别",
	labelCluster:       "集群",
	labelNamespace:     "命名空间",
	labelRestartedPods: "重启的 Pod",
	labelRestarts:      "重启次数",
	labelWindow:        "时间窗口",
	labelFault:         "故障",
	labelClearSince:    "低于阈值起始时间",
	labelEnd:           "结束原因",
	ends: map[detect.EndReason]string{
		detect.EndNoPods:           "命名空间中已没有运行的 Pod",
		detect.EndNamespaceDeleted: "命名空间已被删除",
		detect.EndExcluded:         "命名空间不再被监控",
		detect.EndDisabled:         "命名空间的注解已停用检测",
	},
	restartedPods:     "%[2]d 个中 %[1]d 个（%[3]s）",
	window:            "%[1]s，%[2]s 至 %[3]s",
	fault:             "%[1]s，始于 %[2]s（%[3]s）",
	podsHeading:       "最近 %[1]s 内重启的 Pod",
	containersHeading: "这些 Pod 的容器",
	podColumns: func(w string) []string {
		return []string{"Pod", "节点", "工作负载", "阶段", "原因", "已删除", w + " 内重启次数", "最近重启"}
	},
	containerColumns: func(w string) []string {
		return []string{"Pod", "容器", "类型", "状态", "上次终止", "原因分类", "退出码", "信号", "出错时间",
			w + " 内重启 / 总计", "请求", "限制", "镜像", "容器 ID", "消息"}
	},
	noPods:          "时间窗口内没有 Pod 重启。",
	podsShown:       "仅显示重启最多的 %[1]d 个 Pod（共 %[2]d 个）。",
	containersShown: "仅显示这些 Pod 的 %[1]d 个容器（共 %[2]d 个）。",
	jsonShown:       "字段 `abnormal_pods` 含 %[2]d 个 Pod 中的 %[1]d 个，`container_statuses` 含 %[4]d 个容器中的 %[3]d 个。",
	yes:             "是",
	no:              "否",
	term:            "终止中",
	notReady:        "未就绪",
	duration:        chineseDuration,
	quantities: func(cpu, memory string) string {
		var parts []string
		if cpu != "" {
			parts = append(parts, "CPU "+cpu)
		}
		if memory != "" {
			parts = append(parts, "内存 "+memory)
		}
		return strings.Join(parts, "，")
	},
	rca: chineseRCA,
}

// chineseDuration formats d to the second: 30分钟, 1小时5分钟, 45秒.
func chineseDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0秒"
	}
	h, m, s := d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%d小时", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%d分钟", m)
	}
	if s > 0 {
		fmt.Fprintf(&b, "%d秒", s)
	}
	return b.String()
}

var chineseRCA = rcaText{
	summaryLabel:      "概要",
	triggerLabel:      "可能的诱因",
	nodeLabel:         "节点",
	notCountedLabel:   "未计入",
	rulesLabel:        "规则",
	causesHeading:     "重启原因",
	workloadsHeading:  "重启 Pod 最多的工作负载",
	nodesHeading:      "重启 Pod 最多的节点",
	eventsHeading:     "这些 Pod 的 Warning 事件",
	notCountedHeading: "预期内的终止（未计入）",
	logsHeading:       "上一次运行的最后几行日志",
	causeColumns:      []string{"原因", "重启次数", "占比", "Pod 数", "工作负载", "容器", "内存限制"},
	workloadColumns:   []string{"工作负载", "重启的 Pod", "重启次数"},
	nodeColumns:       []string{"节点", "重启的 Pod", "重启次数", "状况"},
	eventColumns:      []string{"Pod", "容器", "原因", "次数", "最近发生", "消息"},
	notCountedColumns: []string{"原因", "Pod 数", "重启次数", "节点", "工作负载"},
	causeName: func(k detect.CauseKey) string {
		switch k.Cause {
		case detect.CauseOOMKilled:
			return "OOMKilled（内存超限被杀）"
		case detect.CauseLiveness:
			return "存活探针失败"
		case detect.CauseStartup:
			return "启动探针失败"
		case detect.CauseImage:
			return "镜像拉取失败"
		case detect.CauseConfig:
			if k.Code != 0 {
				return fmt.Sprintf("容器启动或配置错误（退出码 %d）", k.Code)
			}
			return "容器启动或配置错误"
		case detect.CauseInit:
			return fmt.Sprintf("Init 容器失败（退出码 %d）", k.Code)
		case detect.CauseSignal:
			return fmt.Sprintf("被 %s 信号终止（退出码 %d）", detect.SignalName(k.Signal()), k.Code)
		case detect.CauseError:
			return fmt.Sprintf("错误退出（退出码 %d）", k.Code)
		case detect.CauseCompleted:
			return "正常退出（退出码 0）"
		case detect.CauseExpected:
			return "预期内（" + detect.ExpectedReason(k.Code).String() + "）"
		}
		return "原因不明"
	},
	dominant: func(a dominantArgs) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%d 次重启中有 %d 次为 %s", a.total, a.n, a.cause)
		switch {
		case len(a.workloads) == 1 && a.moreWorkload == 0:
			b.WriteString("，全部在 " + a.workloads[0])
		case len(a.workloads) > 0:
			b.WriteString("，在 " + strings.Join(a.workloads, "、"))
			if a.moreWorkload > 0 {
				fmt.Fprintf(&b, " 等 %d 个工作负载", len(a.workloads)+a.moreWorkload)
			}
		}
		if len(a.containers) > 0 {
			b.WriteString("，容器 " + strings.Join(a.containers, "、"))
		}
		if len(a.limits) > 0 {
			b.WriteString("，内存限制 " + strings.Join(a.limits, "、"))
		}
		return b.String() + "。"
	},
	others:     func(items []string) string { return "其他：" + strings.Join(items, "，") + "。" },
	countCause: func(n int, cause string) string { return fmt.Sprintf("%d 次 %s", n, cause) },
	titleSuffix: func(n, total int, cause string) string {
		return fmt.Sprintf("；%d 次重启中 %d 次为 %s", total, n, cause)
	},
	trigger: func(a triggerArgs) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s 于 %s 发布了第 %s 版（ReplicaSet %s），早于首次重启 %s", a.workload, a.since, a.revision, a.replicaSet, a.before)
		var changes []string
		for _, c := range a.images {
			if c[1] == "" {
				changes = append(changes, fmt.Sprintf("新增容器 %s，镜像 %s", c[0], c[2]))
			} else {
				changes = append(changes, fmt.Sprintf("容器 %s 的镜像由 %s 变为 %s", c[0], c[1], c[2]))
			}
		}
		if len(changes) > 0 {
			b.WriteString("；" + strings.Join(changes, "；"))
		} else if a.templateChanged {
			b.WriteString("；Pod 模板有变更，镜像未变")
		}
		fmt.Fprintf(&b, "。其 %d 个重启的 Pod 中有 %d 个属于该版本。", a.workloadPods, a.pods)
		return b.String()
	},
	node: func(pods, total int, node string, conditions []string, cordoned bool) string {
		s := fmt.Sprintf("%d 个重启的 Pod 中有 %d 个运行在 %s 上", total, pods, node)
		if len(conditions) > 0 {
			s += "，该节点报告 " + strings.Join(conditions, "、")
		} else {
			s += "，该节点未报告异常状况"
		}
		if cordoned {
			s += "，且已被封锁（cordoned）"
		}
		return s + "。"
	},
	expected: func(r detect.ExpectedReason, pods, restarts int, where string) string {
		var s string
		switch r {
		case detect.ExpectedDeleted:
			s = fmt.Sprintf("%d 个 Pod 被删除", pods)
		case detect.ExpectedEvicted:
			s = fmt.Sprintf("%d 个 Pod 被 kubelet 驱逐", pods)
		case detect.ExpectedPreempted:
			s = fmt.Sprintf("%d 个 Pod 被调度器抢占", pods)
		case detect.ExpectedEvictionAPI:
			s = fmt.Sprintf("%d 个 Pod 经 Eviction API 驱逐", pods)
		case detect.ExpectedDrain:
			s = fmt.Sprintf("%d 个 Pod 因节点排空（drain）被驱逐", pods)
		case detect.ExpectedTaint:
			s = fmt.Sprintf("%d 个 Pod 因 NoExecute 污点被删除", pods)
		case detect.ExpectedPodGC:
			s = fmt.Sprintf("%d 个 Pod 被垃圾回收", pods)
		case detect.ExpectedNodeShutdown:
			s = fmt.Sprintf("%d 个 Pod 因节点关机被终止", pods)
		case detect.ExpectedRollout:
			s = fmt.Sprintf("滚动更新期间旧版本的 %d 个 Pod 被替换或重启", pods)
		default:
			s = fmt.Sprintf("%d 个 Pod 被中断", pods)
		}
		if restarts > 0 {
			s += fmt.Sprintf("（%d 次重启未计入）", restarts)
		}
		if where != "" {
			s += "：" + where
		}
		return s
	},
	rules: func(w, e, c string, minPods, minRestarted int, overridden []string, baseline string) string {
		s := fmt.Sprintf("警告 %s 起，错误 %s 起，严重 %s 起，至少 %d 个 Pod 且至少 %d 个 Pod 重启", w, e, c, minPods, minRestarted)
		if baseline != "" {
			s += "；基线 " + baseline
		}
		if len(overridden) > 0 {
			s += "；由命名空间注解设置：" + strings.Join(overridden, "、")
		}
		return s + "。"
	},
	noLimit:      "无",
	barePods:     "独立 Pod",
	noConditions: "无异常",
	cordoned:     "已封锁",
	logCaption:   func(pod, container string) string { return fmt.Sprintf("%s，容器 %s：", pod, container) },
	cut:          "消息在 64 KiB 处截断；详情见字段 `abnormal_pods` 和 `container_statuses`。",
}
